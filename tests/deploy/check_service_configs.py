#!/usr/bin/python3
"""Every service configuration file that docker/ and deploy/ ship starts the real service: the
images' defaults (docker/config, with the flags docker-compose.yml adds) and the trainer.yaml /
inference.yaml of every rendered ConfigMap.
A key the binary does not know is a crash loop on the cluster; here it is a failed start.

Each file is used as is; only what cannot work on this machine is overridden by flags (which win
over the file): addresses become 127.0.0.1:0, directories a scratch directory, and TLS and token
files ones made here (a self-signed certificate from openssl).

Usage: check_service_configs.py SOURCE_DIR TRAINER INFERENCE
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, kustomizations, render, wait_for_log  # noqa: E402

ADDRESS_KEYS = ("listen", "metrics_listen", "health_listen")
DIRECTORY_KEYS = ("registry_dir", "data_dir")


def make_credentials(work):
    cert, key, tokens = (os.path.join(work, name) for name in ("tls.crt", "tls.key", "tokens"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-days", "1", "-keyout", key, "-out", cert], check=True, capture_output=True)
    with open(tokens, "w") as out:
        out.write("test-token\n")
    return {"tls_cert_file": cert, "tls_key_file": key, "tls_client_ca_file": cert, "auth_token_file": tokens}


def starts(binary, config_text, extra_args, work, credentials):
    """(started and stopped cleanly on SIGTERM, log)."""
    config = yaml.safe_load(config_text)
    path = os.path.join(work, "config.yaml")
    with open(path, "w") as out:
        out.write(config_text)
    argv = [binary, "--config", path] + extra_args
    for key in config:
        flag = "--" + key.replace("_", "-")
        if key in ADDRESS_KEYS and config[key]:
            argv += [flag, "127.0.0.1:0"]
        elif key in DIRECTORY_KEYS:
            argv += [flag, os.path.join(work, key)]
        elif key in credentials:
            argv += [flag, credentials[key]]
    log_path = os.path.join(work, "service.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    serving = bool(wait_for_log([process], log_path, r"serving on port \d+", 60))
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    return serving and code == 0, " ".join(argv) + "\n" + open(log_path).read()


def main():
    source_dir, trainer, inference = sys.argv[1:4]
    binaries = {"trainer.yaml": trainer, "inference.yaml": inference}
    compose = yaml.safe_load(open(os.path.join(source_dir, "docker", "docker-compose.yml")))["services"]
    files = []
    for name in binaries:
        command = compose[name[:-len(".yaml")]].get("command", [])
        extra = command[2:] if command[:1] == ["--config"] else command
        files.append((f"docker/config/{name} with the docker-compose.yml command", name, extra,
                      open(os.path.join(source_dir, "docker", "config", name)).read()))
    checks = Checks()
    for directory in kustomizations(os.path.join(source_dir, "deploy")):
        docs, error = render(directory)
        if not checks.check(error is None, f"{os.path.relpath(directory, source_dir)}: renders", error or ""):
            continue
        for doc in docs:
            if doc["kind"] == "ConfigMap":
                for key, text in doc.get("data", {}).items():
                    if key in binaries:
                        files.append((f"{os.path.relpath(directory, source_dir)}: ConfigMap/"
                                      f"{doc['metadata']['name']}: {key}", key, [], text))
    work = tempfile.mkdtemp(prefix="promptintern_configs_")
    credentials = make_credentials(work)
    seen = set()
    for where, key, extra, text in files:
        if (key, text, tuple(extra)) in seen:
            continue
        seen.add((key, text, tuple(extra)))
        run_dir = tempfile.mkdtemp(dir=work)
        ok, log = starts(binaries[key], text, extra, run_dir, credentials)
        checks.check(ok, f"{where}: the service starts with it and stops on SIGTERM", log)
    shutil.rmtree(work)
    checks.finish()


if __name__ == "__main__":
    main()
