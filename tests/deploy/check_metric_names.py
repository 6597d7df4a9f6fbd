#!/usr/bin/python3
"""Every metric and label that a PromQL expression of the dashboard or the alert rules names is one
the services really export. The names come from the services themselves: a trainer trains and
publishes tests/data/tiny_job.yaml, an inference service that started before the model existed
(so it counts a load failure) then serves it and answers a few requests, one of them refused;
then both /metrics endpoints are scraped. Families with no sample yet are not exposed, hence the
traffic.

Usage: check_metric_names.py SOURCE_DIR TRAINER INFERENCE PROMPTINTERN
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, wait_for_log  # noqa: E402

# Labels Prometheus attaches to every scraped series (Kubernetes service discovery adds the rest).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
            "unless", "inf", "nan"}
GROUPING = r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"


def parse_exposition(text):
    """{sample name: set of label names} from the Prometheus text format."""
    names = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", match.group(3) or ""))
        names.setdefault(match.group(1), set()).update(labels)
    return names


def analyse(expr):
    """(metric names, {metric: matcher labels}, grouping labels) named by a PromQL expression."""
    expr = re.sub(r"\[[^\]]*\]", "", expr)                    # ranges, subqueries, $__rate_interval
    matchers = {}
    for name, body in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}", expr):
        matchers.setdefault(name, set()).update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", body))
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    grouping = set()
    for _, labels in re.findall(GROUPING, expr):
        grouping.update(l.strip() for l in labels.split(",") if l.strip())
    expr = re.sub(GROUPING, " ", expr)
    metrics = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", expr):
        if not match.group(2) and match.group(1).lower() not in KEYWORDS:
            metrics.add(match.group(1))
    return metrics, matchers, grouping


def dashboard_queries(dashboard):
    """(where, expr, legend) of every panel target, and label_values() queries of variables."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"dashboard panel '{panel['title']}'", target["expr"], target.get("legendFormat", "")
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query["query"])
            # Asking for label L of a selector: the selector must name series that carry L.
            yield f"dashboard variable ${variable['name']}", match.group(1), "{{" + match.group(2) + "}}"


def rule_queries(spec):
    for group in spec["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            annotations = " ".join(rule.get("annotations", {}).values())
            yield f"rule {name}", rule["expr"], annotations


class Stack:
    """The two services and their logs in a scratch directory."""

    def __init__(self, trainer, inference, promptintern):
        self.binaries = (trainer, inference, promptintern)
        self.work = tempfile.mkdtemp(prefix="promptintern_metrics_")
        self.processes = []

    def start(self, name, argv, line):
        log_path = os.path.join(self.work, f"{name}.log")
        with open(log_path, "w") as log:
            self.processes.append(subprocess.Popen(argv, stderr=log, stdout=log))
        # "serving on port" is the last line of a start: waiting for it, not for the first match
        # of `line`, keeps a slow start from being read half-logged.
        self.wait_for(log_path, r"serving on port \d+")
        return self.wait_for(log_path, line)

    def wait_for(self, log_path, pattern, timeout=120):
        found = wait_for_log(self.processes, log_path, pattern, timeout)
        if not found:
            raise RuntimeError(f"'{pattern}' not in {log_path}:\n{open(log_path).read()}")
        return found

    def cli(self, *args):
        return subprocess.run([self.binaries[2], *args], capture_output=True, text=True, timeout=300)

    def run(self):
        """Returns the two expositions (trainer, inference)."""
        trainer, inference, _ = self.binaries
        registry = os.path.join(self.work, "registry")
        ports = self.start("trainer", [trainer, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                                       "--data-dir", os.path.join(self.work, "data"), "--registry-dir", registry,
                                       "--threads", "1"], r"(metrics|serving) on port (\d+)")
        trainer_metrics, trainer_grpc = (int(p) for _, p in sorted(ports))
        server = f"127.0.0.1:{trainer_grpc}"
        ports = self.start("inference", [inference, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                                         "--registry-dir", registry, "--model", "tiny@production", "--threads", "1",
                                         "--poll-seconds", "0.2",
                                         # Every query-only answer falls back to the full prompt and is
                                         # compared with it, so the fallback and shadow series exist.
                                         "--min-confidence", "1", "--shadow-rate", "1"],
                                        r"(metrics|serving) on port (\d+)")
        inference_metrics, inference_grpc = (int(p) for _, p in sorted(ports))
        self.wait_for(os.path.join(self.work, "inference.log"), r"cannot load tiny@production")

        # With a promotion gate, so the trainer's promotion series exist.
        tiny = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tiny_job.yaml")
        job = os.path.join(self.work, "tiny_job.yaml")
        with open(job, "w") as out:
            out.write(open(tiny).read() + "promote: {alias: staging, metric: bleu, max_drop: 100}\n")
        for step in (("submit", "--server", server, "--config", job, "--watch"),
                     ("alias", "--server", server, "tiny", "production", "1")):
            result = self.cli(*step)
            if result.returncode != 0:
                raise RuntimeError(f"promptintern {step[0]}: {result.stderr}")
        self.wait_for(os.path.join(self.work, "inference.log"), r"now serving tiny@1")
        endpoint = f"127.0.0.1:{inference_grpc}"
        for mode in ("query_only", "full"):
            result = self.cli("generate", "--server", endpoint, "--mode", mode, "--prompt", "list files",
                              "--max-tokens", "8", "--temperature", "0")
            if result.returncode != 0:
                raise RuntimeError(f"promptintern generate: {result.stderr}")
        # Longer than the model's context: refused, and counted under its status code.
        self.cli("generate", "--server", endpoint, "--prompt", "list files", "--max-tokens", "100000")

        def scrape(port):
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
        return scrape(trainer_metrics), scrape(inference_metrics)

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    source_dir, trainer, inference, promptintern = sys.argv[1:5]
    checks = Checks()
    monitoring = os.path.join(source_dir, "deploy", "base", "monitoring")
    try:
        dashboard = json.load(open(os.path.join(monitoring, "dashboards", "promptintern.json")))
        checks.check(True, "the dashboard is JSON")
    except ValueError as error:
        checks.check(False, "the dashboard is JSON", str(error))
        checks.finish()
    spec = yaml.safe_load(open(os.path.join(monitoring, "prometheusrule.yaml")))["spec"]

    stack = Stack(trainer, inference, promptintern)
    try:
        expositions = stack.run()
    finally:
        stack.stop()
    exported = {}
    for text in expositions:
        exported.update(parse_exposition(text))
    checks.check(any(n.startswith("promptintern_trainer_") for n in exported) and
                 "promptintern_requests_total" in exported, "both services exported their metrics", str(exported))

    # Recording rules are series too: they carry the labels their expression groups by.
    for group in spec["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                exported[rule["record"]] = analyse(rule["expr"])[2]

    queries = list(dashboard_queries(dashboard)) + list(rule_queries(spec))
    for where, expr, text in queries:
        metrics, matchers, grouping = analyse(expr)
        checks.check(bool(metrics), f"{where}: names a metric", expr)
        available = set(TARGET_LABELS) | {"le"}
        for metric in sorted(metrics):
            if checks.check(metric in exported, f"{where}: {metric} is exported", expr):
                available |= exported[metric]
        for metric, labels in matchers.items():
            known = exported.get(metric, set()) | TARGET_LABELS
            checks.check(labels <= known, f"{where}: {metric} has the labels it is filtered on",
                         f"{sorted(labels - known)} not among {sorted(known)}")
        checks.check(grouping <= available, f"{where}: grouping labels exist", str(sorted(grouping - available)))
        # Labels a legend or an annotation prints: after aggregation only the grouping ones remain.
        printed = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text)) | set(re.findall(r"\$labels\.(\w+)", text))
        remaining = grouping if re.search(r"\b(sum|count|max|min|avg)\b", expr) else available
        checks.check(printed <= remaining, f"{where}: printed labels survive the query",
                     str(sorted(printed - remaining)))
    checks.finish()


if __name__ == "__main__":
    main()
