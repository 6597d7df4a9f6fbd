"""What the deployment tests share: rendering kustomizations, reading the rule file out of the
PrometheusRule, waiting for a process's log line, and a small check collector that prints one line
per check and a closing tally."""
import os
import re
import subprocess
import sys
import time

import yaml


class Checks:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"ok: {what}")
        else:
            self.failures.append(what)
            print(f"FAIL: {what}" + (f"\n{detail}" if detail else ""))
        return ok

    def finish(self):
        print(f"{self.passed} passed, {len(self.failures)} failed")
        sys.exit(1 if self.failures else 0)


def kustomizations(deploy_dir):
    """Every directory under deploy/ with a kustomization.yaml, sorted."""
    found = []
    for root, _, files in os.walk(deploy_dir):
        if "kustomization.yaml" in files:
            found.append(root)
    return sorted(found)


def render(directory):
    """`kubectl kustomize DIR` (KUBECTL overrides the binary): (documents, error text or None)."""
    kubectl = os.environ.get("KUBECTL", "kubectl")
    result = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True)
    if result.returncode != 0:
        return [], result.stderr.strip() or f"{kubectl} exited with {result.returncode}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc], None


def rule_file_text(source_dir, prometheusrule_path):
    """The rule file the Compose stack's Prometheus loads, made by the same filter script."""
    script = os.path.join(source_dir, "docker", "prometheus", "rules-from-prometheusrule.sh")
    with open(prometheusrule_path) as stdin:
        return subprocess.run(["/bin/sh", script], stdin=stdin, capture_output=True, text=True, check=True).stdout


def wait_for_log(processes, log_path, pattern, timeout):
    """The matches of `pattern` in `log_path` once there are any; [] when one of `processes` exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path) as log:
            found = re.findall(pattern, log.read())
        if found:
            return found
        if any(process.poll() is not None for process in processes):
            return []
        time.sleep(0.1)
    return []
