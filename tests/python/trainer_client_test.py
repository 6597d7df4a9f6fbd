#!/usr/bin/python3
"""A client on another gRPC implementation (Python grpcio, stubs generated from the same .proto
files) submits a job to the real promptintern-trainer and watches it to the end.

Usage: trainer_client_test.py TRAINER_BINARY PROTO_DIR
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
    trainer_binary, proto_dir = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="promptintern_py_")
    from grpc_tools import protoc
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={work}", f"--grpc_python_out={work}",
                      os.path.join(proto_dir, "promptintern/v1/trainer.proto")])
    assert rc == 0, "protoc failed"
    for package in ["promptintern", "promptintern/v1"]:
        open(os.path.join(work, package, "__init__.py"), "a").close()
    sys.path.insert(0, work)
    import grpc
    from promptintern.v1 import trainer_pb2, trainer_pb2_grpc

    log_path = os.path.join(work, "trainer.log")
    with open(log_path, "w") as log:
        trainer = subprocess.Popen([trainer_binary, "--listen", "127.0.0.1:0", "--metrics-listen", "",
                                    "--data-dir", os.path.join(work, "data"),
                                    "--registry-dir", os.path.join(work, "registry"), "--threads", "1"],
                                   stderr=log)
    try:
        port = None
        for _ in range(300):
            match = re.search(r"serving on port (\d+)", open(log_path).read())
            if match:
                port = int(match.group(1))
                break
            time.sleep(0.05)
        assert port, "trainer did not start: " + open(log_path).read()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        jobs = trainer_pb2_grpc.TrainerServiceStub(channel)
        registry = trainer_pb2_grpc.RegistryServiceStub(channel)

        job_yaml = open(os.path.join(os.path.dirname(__file__), "..", "data", "tiny_job.yaml")).read()
        job = jobs.SubmitJob(trainer_pb2.SubmitJobRequest(job_yaml=job_yaml, name="from-python"), timeout=30)
        assert job.state == trainer_pb2.JOB_STATE_QUEUED, job
        kinds = [event.kind for event in jobs.WatchJob(trainer_pb2.WatchJobRequest(job_id=job.job_id), timeout=120)]
        assert kinds[0] == trainer_pb2.JobEvent.KIND_QUEUED, kinds
        assert trainer_pb2.JobEvent.KIND_PROGRESS in kinds, kinds
        assert kinds.count(trainer_pb2.JobEvent.KIND_PUBLISHED) == 1, kinds
        assert kinds[-1] == trainer_pb2.JobEvent.KIND_SUCCEEDED, kinds
        version = registry.GetVersion(trainer_pb2.GetVersionRequest(reference="from-python@1"), timeout=30)
        assert {f.path for f in version.files} >= {"config.json", "model.safetensors", "tokenizer.model", "task.json"}
        try:
            jobs.GetJob(trainer_pb2.GetJobRequest(job_id="missing"), timeout=30)
            raise AssertionError("GetJob of an unknown id succeeded")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error
    finally:
        trainer.send_signal(signal.SIGTERM)
        trainer.wait(timeout=30)
    assert trainer.returncode == 0, f"trainer exited with {trainer.returncode} on SIGTERM"
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
