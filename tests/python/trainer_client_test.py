#!/usr/bin/python3
"""A client on another gRPC implementation (Python grpcio, stubs generated from the same .proto
files) submits a job with a promotion gate to the real promptintern-trainer and watches it to the
end, then asks the real promptintern-inference serving the promoted version for answers with a
confidence fallback and a shadow comparison.

Usage: trainer_client_test.py TRAINER_BINARY PROTO_DIR INFERENCE_BINARY
Prints '1 passed, 0 failed' on success.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def main():
    trainer_binary, proto_dir, inference_binary = sys.argv[1], sys.argv[2], sys.argv[3]
    work = tempfile.mkdtemp(prefix="promptintern_py_")
    from grpc_tools import protoc
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={work}", f"--grpc_python_out={work}",
                      os.path.join(proto_dir, "promptintern/v1/trainer.proto"),
                      os.path.join(proto_dir, "promptintern/v1/inference.proto")])
    assert rc == 0, "protoc failed"
    for package in ["promptintern", "promptintern/v1"]:
        open(os.path.join(work, package, "__init__.py"), "a").close()
    sys.path.insert(0, work)
    import grpc
    from promptintern.v1 import inference_pb2, inference_pb2_grpc, trainer_pb2, trainer_pb2_grpc

    def port_in(log_path):
        for _ in range(600):
            match = re.search(r"serving on port (\d+)", open(log_path).read())
            if match:
                return int(match.group(1))
            time.sleep(0.05)
        raise AssertionError("did not start: " + open(log_path).read())

    log_path = os.path.join(work, "trainer.log")
    with open(log_path, "w") as log:
        trainer = subprocess.Popen([trainer_binary, "--listen", "127.0.0.1:0", "--metrics-listen", "",
                                    "--data-dir", os.path.join(work, "data"),
                                    "--registry-dir", os.path.join(work, "registry"), "--threads", "1"],
                                   stderr=log)
    inference = None
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port_in(log_path)}")
        jobs = trainer_pb2_grpc.TrainerServiceStub(channel)
        registry = trainer_pb2_grpc.RegistryServiceStub(channel)

        job_yaml = open(os.path.join(os.path.dirname(__file__), "..", "data", "tiny_job.yaml")).read()
        # BLEU lies in [0, 100]: a drop of at most 100 always passes.
        job_yaml += "promote: {alias: production, reference: full_prompt, metric: bleu, max_drop: 100}\n"
        job = jobs.SubmitJob(trainer_pb2.SubmitJobRequest(job_yaml=job_yaml, name="from-python"), timeout=30)
        assert job.state == trainer_pb2.JOB_STATE_QUEUED, job
        events = list(jobs.WatchJob(trainer_pb2.WatchJobRequest(job_id=job.job_id), timeout=120))
        kinds = [event.kind for event in events]
        assert kinds[0] == trainer_pb2.JobEvent.KIND_QUEUED, kinds
        assert trainer_pb2.JobEvent.KIND_PROGRESS in kinds, kinds
        assert kinds.count(trainer_pb2.JobEvent.KIND_PUBLISHED) == 1, kinds
        assert kinds[-1] == trainer_pb2.JobEvent.KIND_SUCCEEDED, kinds
        gates = [event for event in events if event.kind == trainer_pb2.JobEvent.KIND_PROMOTION]
        assert len(gates) == 1 and gates[0].metrics["promoted"] == 1.0, gates
        assert 'promoted to "production"' in gates[0].message, gates[0].message
        version = registry.GetVersion(trainer_pb2.GetVersionRequest(reference="from-python@1"), timeout=30)
        assert {f.path for f in version.files} >= {"config.json", "model.safetensors", "tokenizer.model", "task.json"}
        try:
            jobs.GetJob(trainer_pb2.GetJobRequest(job_id="missing"), timeout=30)
            raise AssertionError("GetJob of an unknown id succeeded")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error

        # The gate moved the alias: the inference service follows it.
        inference_log = os.path.join(work, "inference.log")
        with open(inference_log, "w") as log:
            inference = subprocess.Popen([inference_binary, "--listen", "127.0.0.1:0", "--metrics-listen", "",
                                          "--registry-dir", os.path.join(work, "registry"),
                                          "--model", "from-python@production", "--threads", "1"], stderr=log)
        serving = inference_pb2_grpc.InferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{port_in(inference_log)}"))
        for _ in range(600):
            if "now serving" in open(inference_log).read():
                break
            time.sleep(0.05)
        # A confidence is at most 1: min_confidence 1 sends the answer to the full prompt.
        unsure = serving.Generate(inference_pb2.GenerateRequest(query=b"list files", max_tokens=6, min_confidence=1.0,
                                                                shadow=True), timeout=60)
        assert unsure.answered_by == "reference", unsure
        assert 0 < unsure.confidence.score < 1, unsure.confidence
        assert unsure.usage.fallback_input_tokens == unsure.usage.baseline_input_tokens, unsure.usage
        assert unsure.usage.net_saved_input_tokens == -unsure.usage.input_tokens, unsure.usage
        sure = serving.Generate(inference_pb2.GenerateRequest(query=b"list files", max_tokens=6), timeout=60)
        assert sure.answered_by == "model", sure
        assert sure.usage.fallback_cost_usd == 0 and sure.usage.net_saved_input_tokens == sure.usage.saved_input_tokens
        try:
            serving.Generate(inference_pb2.GenerateRequest(query=b"list files", min_confidence=2.0), timeout=60)
            raise AssertionError("min_confidence 2 was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "min_confidence" in error.details(), error
    finally:
        if inference is not None:
            inference.send_signal(signal.SIGTERM)
            inference.wait(timeout=30)
        trainer.send_signal(signal.SIGTERM)
        trainer.wait(timeout=30)
    assert trainer.returncode == 0, f"trainer exited with {trainer.returncode} on SIGTERM"
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
