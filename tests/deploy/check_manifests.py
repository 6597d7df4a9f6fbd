#!/usr/bin/python3
"""Renders every kustomization under deploy/ with `kubectl kustomize`, validates every document
against its schema offline (validator/validate.cjs: Kubernetes, Prometheus Operator and PyTorchJob
types), then checks what a schema cannot see: references between objects, probes and ports
against the services' own configuration files, paths in those files against volume mounts, and
the training job against the PyTorchJob that runs it (`promptintern train` must accept it).

Usage: check_manifests.py SOURCE_DIR BUILD_DIR PROMPTINTERN_BINARY
The validator's npm packages (pinned by validator/package-lock.json) are installed with `npm ci`
into BUILD_DIR/deploy-validator when the lock file there differs from the source one.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, kustomizations, render, wait_for_log  # noqa: E402

VALIDATOR_FILES = ["package.json", "package-lock.json", "validate.cjs", "kubeflow.d.ts"]
# Created outside the manifests (docs/DEPLOYMENT.md): key material, and for deploy/training the
# volume that an overlay in the same namespace created.
EXTERNAL = {("Secret", "promptintern-tls"), ("Secret", "promptintern-auth"),
            ("PersistentVolumeClaim", "promptintern-registry")}


def install_validator(source_dir, build_dir):
    source = os.path.join(source_dir, "tests", "deploy", "validator")
    target = os.path.join(build_dir, "deploy-validator")
    os.makedirs(target, exist_ok=True)
    def text(path):
        return open(path).read() if os.path.exists(path) else None

    # npm ci wipes node_modules: run it only when the pinned set changed (or was never installed).
    stale = text(os.path.join(target, "node_modules", ".package-lock.json")) is None or \
        text(os.path.join(target, "package-lock.json")) != text(os.path.join(source, "package-lock.json"))
    for name in VALIDATOR_FILES:
        shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
    if stale:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                       cwd=target, check=True)
    return target


def find(docs, kind, name):
    return next((d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name), None)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def pod_specs(doc):
    """(label, pod spec, pod labels) of every pod template in a document."""
    if doc["kind"] == "Deployment":
        template = doc["spec"]["template"]
        yield f"Deployment/{doc['metadata']['name']}", template["spec"], template["metadata"].get("labels", {})
    elif doc["kind"] == "PyTorchJob":
        for replica, spec in doc["spec"]["pytorchReplicaSpecs"].items():
            yield f"PyTorchJob/{doc['metadata']['name']}/{replica}", spec["template"]["spec"], {}


def mounted_file(docs, pod, container, path):
    """Text of the ConfigMap key that `path` names through the container's mounts, or None."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        volume = volumes.get(mount["name"], {})
        if path.startswith(prefix) and "configMap" in volume:
            config_map = find(docs, "ConfigMap", volume["configMap"]["name"])
            if config_map:
                return config_map.get("data", {}).get(path[len(prefix):])
    return None


def mount_for(pod, container, path):
    """The volume that serves `path` in the container (the longest mountPath prefix), or None."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    best = None
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, volumes.get(mount["name"], {}))
    return best[1] if best else None


def flag_value(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


def check_pods(checks, name, docs):
    for doc in docs:
        for where, pod, _ in pod_specs(doc):
            where = f"{name}: {where}"
            names = {v["name"] for v in pod.get("volumes", [])}
            for volume in pod.get("volumes", []):
                for key, kind, field in [("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName"),
                                         ("persistentVolumeClaim", "PersistentVolumeClaim", "claimName")]:
                    if key in volume:
                        target = volume[key][field]
                        checks.check(find(docs, kind, target) is not None or (kind, target) in EXTERNAL,
                                     f"{where}: volume {volume['name']} refers to an existing {kind} {target}")
            checks.check(pod.get("securityContext", {}).get("runAsNonRoot") is True, f"{where}: runs as non-root")
            for container in pod["containers"]:
                c = f"{where}/{container['name']}"
                mounts = [m["name"] for m in container.get("volumeMounts", [])]
                checks.check(set(mounts) <= names, f"{c}: every volumeMount names a pod volume", str(mounts))
                resources = container.get("resources", {})
                checks.check(all(r in resources.get(k, {}) for k in ("requests", "limits") for r in ("cpu", "memory")),
                             f"{c}: cpu and memory requests and limits are set")
                checks.check(container.get("securityContext", {}).get("allowPrivilegeEscalation") is False,
                             f"{c}: no privilege escalation")
                env = {e["name"] for e in container.get("env", [])}
                used = set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", " ".join(container.get("command", []) +
                                                                                  container.get("args", []))))
                checks.check(used <= env, f"{c}: every $(VAR) in command and args is defined in env",
                             str(used - env))


def check_service_config(checks, name, docs, doc):
    """Probes, ports and paths of a Deployment against the config file its container reads."""
    pod = doc["spec"]["template"]["spec"]
    for container in pod["containers"]:
        c = f"{name}: Deployment/{doc['metadata']['name']}/{container['name']}"
        config_path = flag_value(container.get("args", []), "--config")
        text = mounted_file(docs, pod, container, config_path or "")
        if not checks.check(text is not None, f"{c}: --config {config_path} is a mounted ConfigMap key"):
            continue
        config = yaml.safe_load(text)
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        checks.check(config["listen"].startswith("0.0.0.0:") and ports.get("grpc") == port_of(config["listen"]),
                     f"{c}: listens on all interfaces at the grpc containerPort", config["listen"])
        checks.check(ports.get("metrics") == port_of(config["metrics_listen"]),
                     f"{c}: metrics_listen is the metrics containerPort", config["metrics_listen"])
        probe_port = port_of(config["health_listen"]) if "health_listen" in config else port_of(config["listen"])
        if "health_listen" in config:
            checks.check(ports.get("health") == probe_port, f"{c}: health_listen is the health containerPort")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = container.get(probe, {}).get("grpc", {}).get("port")
            checks.check(port == probe_port, f"{c}: {probe} is a gRPC probe on port {probe_port}", f"got {port}")
        # Plaintext probes cannot reach a TLS port; TLS therefore needs the health-only listener.
        if "tls_cert_file" in config:
            checks.check("health_listen" in config, f"{c}: TLS comes with a plaintext health_listen for probes")
        for key in ("tls_cert_file", "tls_key_file", "tls_client_ca_file", "auth_token_file"):
            if key in config:
                volume = mount_for(pod, container, config[key]) or {}
                checks.check("secret" in volume, f"{c}: {key} {config[key]} lies in a mounted Secret")
        for key in ("registry_dir", "data_dir"):
            if key in config:
                volume = mount_for(pod, container, config[key] + "/") or {}
                checks.check("persistentVolumeClaim" in volume, f"{c}: {key} {config[key]} lies on the volume")


def check_objects(checks, name, docs):
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    for doc in deployments:
        labels = doc["spec"]["template"]["metadata"]["labels"]
        selector = doc["spec"]["selector"]["matchLabels"]
        checks.check(selector.items() <= labels.items(), f"{name}: Deployment/{doc['metadata']['name']}: "
                     "selector matches its pod labels")
        check_service_config(checks, name, docs, doc)

    def selected(match_labels):
        return [d for d in deployments if match_labels.items() <= d["spec"]["template"]["metadata"]["labels"].items()]

    for doc in docs:
        where = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Service":
            targets = selected(doc["spec"]["selector"])
            checks.check(len(targets) == 1, f"{where}: selects the pods of one Deployment")
            container_ports = {p.get("name") for t in targets for c in t["spec"]["template"]["spec"]["containers"]
                               for p in c.get("ports", [])}
            for port in doc["spec"]["ports"]:
                checks.check(port["targetPort"] in container_ports, f"{where}: targetPort {port['targetPort']} "
                             "is a named container port")
        elif doc["kind"] == "HorizontalPodAutoscaler":
            ref = doc["spec"]["scaleTargetRef"]
            checks.check(find(docs, ref["kind"], ref["name"]) is not None, f"{where}: scales an existing {ref['kind']}")
        elif doc["kind"] == "PodDisruptionBudget":
            checks.check(len(selected(doc["spec"]["selector"]["matchLabels"])) == 1, f"{where}: covers one Deployment")
        elif doc["kind"] == "PersistentVolumeClaim":
            checks.check("ReadWriteMany" in doc["spec"]["accessModes"], f"{where}: ReadWriteMany (shared by pods)")
        elif doc["kind"] == "ServiceMonitor" and any(d["kind"] == "Service" for d in docs):
            match = doc["spec"]["selector"]["matchLabels"]
            for endpoint in doc["spec"]["endpoints"]:
                scraped = [s["metadata"]["name"] for s in docs if s["kind"] == "Service"
                           and match.items() <= s["metadata"].get("labels", {}).items()
                           and endpoint["port"] in [p["name"] for p in s["spec"]["ports"]]]
                checks.check(sorted(scraped) == ["promptintern-inference", "promptintern-trainer"],
                             f"{where}: port {endpoint['port']} scrapes both services once", str(scraped))
        elif doc["kind"] == "ConfigMap" and doc["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            for key, text in doc["data"].items():
                try:
                    json.loads(text)
                    ok = True
                except ValueError:
                    ok = False
                checks.check(ok, f"{where}: dashboard {key} is JSON")


def check_training(checks, name, docs, promptintern):
    for job in [d for d in docs if d["kind"] == "PyTorchJob"]:
        where = f"{name}: PyTorchJob/{job['metadata']['name']}"
        specs = job["spec"]["pytorchReplicaSpecs"]
        checks.check(specs.get("Master", {}).get("replicas") == 1, f"{where}: one Master (rank 0)")
        world_size = sum(spec.get("replicas", 1) for spec in specs.values())
        job_texts = set()
        for replica, spec in specs.items():
            pod = spec["template"]["spec"]
            container = next((c for c in pod["containers"] if c["name"] == "pytorch"), None)
            if not checks.check(container is not None, f"{where}/{replica}: has the container `pytorch`"):
                continue
            argv = container.get("command", []) + container.get("args", [])
            checks.check(argv[:2] == ["promptintern", "train"], f"{where}/{replica}: runs promptintern train")
            for flag in ("--output", "--registry-dir"):
                volume = mount_for(pod, container, (flag_value(argv, flag) or "") + "/") or {}
                checks.check("persistentVolumeClaim" in volume, f"{where}/{replica}: {flag} lies on the shared volume")
            job_text = mounted_file(docs, pod, container, flag_value(argv, "--config") or "")
            if not checks.check(job_text is not None, f"{where}/{replica}: --config is a mounted ConfigMap key"):
                continue
            job_texts.add(job_text)
            spec_yaml = yaml.safe_load(job_text)
            batch = spec_yaml.get("training", {}).get("batch_size", 8)
            checks.check(batch % world_size == 0,
                         f"{where}/{replica}: global batch {batch} divides among {world_size} ranks")
            # 0 means the cores the container may use (the trainer reads its cgroup CPU limit).
            checks.check(str(spec_yaml.get("threads")) in ("0", str(container["resources"]["limits"]["cpu"])),
                         f"{where}/{replica}: job threads are the CPU limit (or 0: the container's cores)")
        if checks.check(len(job_texts) == 1, f"{where}: every rank reads the same job file"):
            check_job_file_runs(checks, where, job_texts.pop(), promptintern)


def check_job_file_runs(checks, where, job_text, promptintern):
    """`promptintern train` parses the job file, builds the task and starts stage 1 (then stops)."""
    work = tempfile.mkdtemp(prefix="promptintern_job_")
    path = os.path.join(work, "job.yaml")
    with open(path, "w") as out:
        out.write(job_text)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT")}
    log_path = os.path.join(work, "train.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen([promptintern, "train", "--config", path, "--output", os.path.join(work, "run")],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    started = bool(wait_for_log([process], log_path, r"\[stage 1/\d+\] started", 240))
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()
    checks.check(started, f"{where}: promptintern train accepts the job and starts stage 1", open(log_path).read())
    shutil.rmtree(work, ignore_errors=True)


def main():
    source_dir, build_dir, promptintern = sys.argv[1:4]
    checks = Checks()
    rendered = []
    for directory in kustomizations(os.path.join(source_dir, "deploy")):
        name = os.path.relpath(directory, source_dir)
        docs, error = render(directory)
        if checks.check(error is None and docs, f"{name}: kubectl kustomize renders", error or ""):
            rendered.append((name, docs))

    validator = install_validator(source_dir, build_dir)
    bundle = os.path.join(validator, "rendered.json")
    with open(bundle, "w") as out:
        json.dump([{"source": name, "documents": docs} for name, docs in rendered], out)
    result = subprocess.run(["node", os.path.join(validator, "validate.cjs"), bundle], capture_output=True, text=True)
    checks.check(result.returncode == 0, f"{sum(len(d) for _, d in rendered)} documents valid against their "
                 "schemas (unknown fields rejected)", result.stdout + result.stderr)

    for name, docs in rendered:
        check_pods(checks, name, docs)
        check_objects(checks, name, docs)
        check_training(checks, name, docs, promptintern)
    checks.finish()


if __name__ == "__main__":
    main()
