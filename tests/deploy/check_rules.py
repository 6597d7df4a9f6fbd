#!/usr/bin/python3
"""The alert rules: the rule file that the Compose stack's Prometheus loads is exactly the
PrometheusRule's spec, `promtool check rules` accepts it, and `promtool test rules` with
rules_test.yml shows every alert firing on synthetic series (and not on the healthy ones).

Usage: check_rules.py SOURCE_DIR PROMTOOL
"""
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, rule_file_text  # noqa: E402


def main():
    source_dir, promtool = sys.argv[1:3]
    checks = Checks()
    prometheusrule = os.path.join(source_dir, "deploy", "base", "monitoring", "prometheusrule.yaml")
    spec = yaml.safe_load(open(prometheusrule))["spec"]
    text = rule_file_text(source_dir, prometheusrule)
    checks.check(yaml.safe_load(text) == spec, "the Compose rule file equals the PrometheusRule spec", text)

    work = tempfile.mkdtemp(prefix="promptintern_rules_")
    rules = os.path.join(work, "promptintern.rules.yml")
    with open(rules, "w") as out:
        out.write(text)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules_test.yml"), work)

    result = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True)
    checks.check(result.returncode == 0, "promtool check rules", result.stdout + result.stderr)
    result = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=work, capture_output=True, text=True)
    checks.check(result.returncode == 0, "promtool test rules rules_test.yml", result.stdout + result.stderr)

    tests = yaml.safe_load(open(os.path.join(work, "rules_test.yml")))["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    for group in spec["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            name = rule["alert"]
            checks.check(name in fired, f"{name}: rules_test.yml shows it firing")
            checks.check(rule.get("labels", {}).get("severity") in ("critical", "warning"), f"{name}: has a severity")
            checks.check({"summary", "description"} <= set(rule.get("annotations", {})),
                         f"{name}: has a summary and a description")
    shutil.rmtree(work)
    checks.finish()


if __name__ == "__main__":
    main()
