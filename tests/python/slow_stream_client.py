#!/usr/bin/python3
"""A client that stops reading, at the HTTP/2 level: it opens GenerateStream calls on one
connection whose stream flow-control window is WINDOW bytes (SETTINGS_INITIAL_WINDOW_SIZE) and
never sends a WINDOW_UPDATE, so the server can send at most WINDOW bytes of DATA per stream and
then has to hold the rest. WINDOW 0 is a client that reads nothing at all. It keeps the connection
itself alive (answers PING and SETTINGS) the way a real, merely slow, client does.

Usage: slow_stream_client.py PORT WINDOW STREAMS MAX_TOKENS ROUNDS WAIT_SECONDS
Each round opens a fresh connection with STREAMS calls, prints "held ROUND" once the server has
started every response (its HEADERS arrived: the handler is writing into a closed window), waits up
to WAIT_SECONDS for every call to end, and closes the connection. At the end it prints one JSON
line: {"rounds": R, "held": H, "ended": {"<how>": count}, "open": N, "data_bytes": B} where <how> is
"grpc-status N" (trailers) or "reset N" (RST_STREAM error code) and "open" counts calls that had not
ended when the round's wait ran out.

Debian's python3-h2 (scripts/install-deps.sh) speaks HTTP/2: a gRPC library would read for us.
"""
import collections
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def generate_request(query, max_tokens):
    """promptintern.v1.GenerateRequest {query = 1, max_tokens = 3}, gRPC length-prefixed."""
    text = query.encode()
    message = b"\x0a" + varint(len(text)) + text + b"\x18" + varint(max_tokens)
    return b"\x00" + len(message).to_bytes(4, "big") + message


def run_round(port, window, streams, max_tokens, wait_seconds, round_index, ended, totals):
    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.local_settings = h2.settings.Settings(
        client=True,
        initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
                        h2.settings.SettingCodes.ENABLE_PUSH: 0})
    conn.initiate_connection()
    stream_ids = []
    for i in range(streams):
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, [
            (":method", "POST"), (":scheme", "http"), (":authority", f"127.0.0.1:{port}"),
            (":path", "/promptintern.v1.InferenceService/GenerateStream"),
            ("content-type", "application/grpc"), ("te", "trailers"),
            ("grpc-timeout", f"{int(wait_seconds * 4)}S"),
        ])
        conn.send_data(stream_id, generate_request(f"show the slow stream {round_index}-{i}", max_tokens),
                       end_stream=True)
        stream_ids.append(stream_id)
    sock.sendall(conn.data_to_send())

    started = set()
    finished = {}
    announced = False
    deadline = time.monotonic() + wait_seconds
    sock.settimeout(0.2)
    while len(finished) < streams and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                started.add(event.stream_id)
                status = dict(event.headers).get("grpc-status")
                if status is not None:  # trailers-only response
                    finished[event.stream_id] = f"grpc-status {status}"
            elif isinstance(event, h2.events.TrailersReceived):
                finished[event.stream_id] = f"grpc-status {dict(event.headers).get('grpc-status')}"
            elif isinstance(event, h2.events.StreamReset):
                finished.setdefault(event.stream_id, f"reset {int(event.error_code)}")
            elif isinstance(event, h2.events.DataReceived):
                # Counted, never acknowledged: the window this stream was given is not reopened.
                totals["data_bytes"] += len(event.data)
        sock.sendall(conn.data_to_send())
        if not announced and len(started | set(finished)) == streams:
            announced = True
            totals["held"] += 1
            print(f"held {round_index}", flush=True)
    for stream_id in stream_ids:
        if stream_id in finished:
            ended[finished[stream_id]] += 1
        else:
            totals["open"] += 1
    if not announced:
        print(f"not held {round_index}: {len(started)} of {streams} responses started", flush=True)
    sock.close()


def main():
    port, window, streams, max_tokens, rounds = (int(value) for value in sys.argv[1:6])
    wait_seconds = float(sys.argv[6])
    ended = collections.Counter()
    totals = {"held": 0, "open": 0, "data_bytes": 0}
    for round_index in range(rounds):
        run_round(port, window, streams, max_tokens, wait_seconds, round_index, ended, totals)
    print(json.dumps({"rounds": rounds, "held": totals["held"], "ended": dict(ended), "open": totals["open"],
                      "data_bytes": totals["data_bytes"]}), flush=True)


if __name__ == "__main__":
    main()
