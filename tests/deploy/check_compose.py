#!/usr/bin/python3
"""docker/docker-compose.yml without a container engine: `docker-compose config` (Debian's
docker-compose validates the file against the Compose schema and never contacts a daemon; DOCKER_HOST
points nowhere to make sure), then the wiring it resolves to: the shared registry volume, the
Dockerfile targets, the scrape targets against the services' metrics ports, Prometheus' own
config (`promtool check config`), and the rules and dashboard files that deploy/ uses, mounted
rather than copied.

Usage: check_compose.py SOURCE_DIR PROMTOOL
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, rule_file_text  # noqa: E402


def mounts(service):
    """{container path: (source, read_only)} from compose's normalized `volumes` entries."""
    result = {}
    for entry in service.get("volumes", []):
        parts = entry.split(":")
        result[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
    return result


def main():
    source_dir, promtool = sys.argv[1:3]
    checks = Checks()
    docker_dir = os.path.join(source_dir, "docker")
    compose_file = os.path.join(docker_dir, "docker-compose.yml")
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    result = subprocess.run(["docker-compose", "-f", compose_file, "config"], capture_output=True, text=True, env=env)
    if not checks.check(result.returncode == 0, "docker-compose config accepts the file", result.stderr):
        checks.finish()
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    checks.check(set(services) == {"trainer", "inference", "prometheus", "grafana"},
                 "the stack is trainer, inference, prometheus and grafana", str(sorted(services)))

    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", open(os.path.join(docker_dir, "Dockerfile")).read(), re.M | re.I)
    for name in ("trainer", "inference"):
        build = services[name]["build"]
        checks.check(os.path.realpath(build["context"]) == os.path.realpath(source_dir)
                     and build["dockerfile"] == "docker/Dockerfile" and build["target"] == name,
                     f"{name}: built from docker/Dockerfile, target {name}, repository root as context")
        checks.check(build["target"] in stages, f"{name}: target {build['target']} is a Dockerfile stage")

    trainer, inference = mounts(services["trainer"]), mounts(services["inference"])
    checks.check("/data" in trainer and not trainer["/data"][1], "trainer: mounts /data read-write")
    checks.check(inference.get("/data", ("", False))[0] == trainer.get("/data", ("?",))[0]
                 and inference["/data"][1] and trainer["/data"][0] in config.get("volumes", {}),
                 "inference: mounts the trainer's named volume read-only at /data")

    # The services read the images' default configs: their ports are what Prometheus scrapes.
    image_configs = {name: yaml.safe_load(open(os.path.join(docker_dir, "config", f"{name}.yaml")))
                     for name in ("trainer", "inference")}
    command = services["inference"].get("command", [])
    checks.check(command[:2] == ["--config", "/etc/promptintern/inference.yaml"] and "--model" in command,
                 "inference: reads the image's config and names the model it follows", str(command))
    prometheus_config = yaml.safe_load(open(os.path.join(docker_dir, "prometheus", "prometheus.yml")))
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in prometheus_config["scrape_configs"]}
    for name in ("trainer", "inference"):
        port = image_configs[name]["metrics_listen"].rsplit(":", 1)[1]
        checks.check(targets.get(f"promptintern-{name}") == [f"{name}:{port}"],
                     f"prometheus: job promptintern-{name} scrapes {name}:{port}", str(targets))

    prometheus = mounts(services["prometheus"])
    rules_source = os.path.join(source_dir, "deploy", "base", "monitoring", "prometheusrule.yaml")
    checks.check(os.path.realpath(prometheus.get("/etc/prometheus/prometheusrule.yaml", ("",))[0])
                 == os.path.realpath(rules_source), "prometheus: mounts deploy's PrometheusRule")
    entrypoint = open(os.path.join(docker_dir, "prometheus", "entrypoint.sh")).read()
    written = re.search(r">\s*(\S+\.yml)", entrypoint).group(1)
    checks.check(prometheus_config["rule_files"] == [written], f"prometheus: loads the rule file entrypoint.sh "
                 f"writes ({written})", str(prometheus_config["rule_files"]))
    checks.check(os.path.dirname(written) in services["prometheus"].get("tmpfs", []),
                 "prometheus: the rule file's directory is a writable tmpfs")
    for script in ("entrypoint.sh", "rules-from-prometheusrule.sh"):
        checks.check(os.path.realpath(prometheus.get(f"/etc/prometheus/{script}", ("",))[0]) ==
                     os.path.realpath(os.path.join(docker_dir, "prometheus", script)), f"prometheus: mounts {script}")

    # promtool on the config as Prometheus will see it: the rule file where entrypoint.sh puts it.
    work = tempfile.mkdtemp(prefix="promptintern_compose_")
    with open(os.path.join(work, "promptintern.rules.yml"), "w") as out:
        out.write(rule_file_text(source_dir, rules_source))
    prometheus_config["rule_files"] = [os.path.join(work, "promptintern.rules.yml")]
    with open(os.path.join(work, "prometheus.yml"), "w") as out:
        yaml.safe_dump(prometheus_config, out)
    result = subprocess.run([promtool, "check", "config", os.path.join(work, "prometheus.yml")],
                            capture_output=True, text=True)
    checks.check(result.returncode == 0, "promtool check config prometheus.yml", result.stdout + result.stderr)
    shutil.rmtree(work)

    grafana = mounts(services["grafana"])
    dashboards = os.path.join(source_dir, "deploy", "base", "monitoring", "dashboards")
    checks.check(os.path.realpath(grafana.get("/etc/grafana/dashboards", ("",))[0]) == os.path.realpath(dashboards),
                 "grafana: mounts deploy's dashboards directory (the same file, no copy)")
    provider = yaml.safe_load(open(os.path.join(docker_dir, "grafana", "provisioning", "dashboards",
                                                "promptintern.yml")))
    checks.check(provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards",
                 "grafana: the dashboard provider reads the mounted directory")
    datasource = yaml.safe_load(open(os.path.join(docker_dir, "grafana", "provisioning", "datasources",
                                                  "prometheus.yml")))["datasources"][0]
    checks.check(datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090",
                 "grafana: the datasource is the prometheus service")
    checks.finish()


if __name__ == "__main__":
    main()
