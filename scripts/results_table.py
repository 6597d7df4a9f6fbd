#!/usr/bin/env python3
"""Prints the docs/RESULTS.md tables from the report.json files of the NL2Bash runs."""
import json
import pathlib
import sys

runs = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs")
ROWS = [
    ("PromptIntern (query only)", "promptintern", "query_only"),
    ("Full-prompt fine-tuning (full prompt)", "full-prompt", "full_prompt"),
    ("Full-prompt fine-tuning + prompt compression r=0.3", "full-prompt", "compressed"),
    ("Template-only fine-tuning (template + query)", "template-only", "full_prompt"),
    ("Query-only fine-tuning (query only)", "query-only", "query_only"),
    ("PromptIntern model given the full prompt", "promptintern", "full_prompt"),
]
ABLATION = [
    ("explicit 1/.6/.3/0, 5/3/1/0 (default)", "promptintern"),
    ("linear", "linear"),
    ("exponential", "exponential"),
    ("inverse exponential", "inverse-exponential"),
]


def mode(job, name):
    path = runs / f"nl2bash-{job}" / "report.json"
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    for entry in report["modes"]:
        if entry["mode"] == name:
            return entry, report
    return None


def row(label, entry):
    return (f"| {label} | {100 * entry['exact_match']:.1f} | {entry['bleu']:.2f} | {100 * entry['structure']:.1f} "
            f"| {entry['mean_input_tokens']:.1f} | {1000 * entry['latency_p50_s']:.1f} | {1000 * entry['latency_p90_s']:.1f} "
            f"| {entry['cost_per_1k_requests_usd']:.4f} |")


HEADER = ("| method (inference input) | exact match % | BLEU | structure % | input tokens/request | p50 ms | p90 ms "
          "| $ per 1k requests |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
print(HEADER)
for label, job, name in ROWS:
    found = mode(job, name)
    if found:
        print(row(label, found[0]))
print()
print(HEADER.replace("method (inference input)", "schedule (query-only inference)"))
for label, job in ABLATION:
    found = mode(job, "query_only")
    if found:
        print(row(label, found[0]))
print()
for job in ["promptintern", "full-prompt", "query-only", "template-only", "linear", "exponential", "inverse-exponential"]:
    path = runs / f"nl2bash-{job}" / "report.json"
    if path.exists():
        report = json.loads(path.read_text())
        print(f"- {job}: {report['train_seconds']:.0f} s of training, template {report['template_tokens']} tokens")
