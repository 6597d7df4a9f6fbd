#!/usr/bin/env bash
# Reproduces docs/RESULTS.md: runs the experiment examples/experiments/nl2bash.yaml (every row of
# examples/jobs/nl2bash x 5 seeds at an equal budget of 200k training tokens, a 0.22M-parameter
# model; sized for well under 90 minutes of one core) and writes docs/RESULTS.md with its plots in
# docs/results/. Resumable: run it again after an interruption and only the missing cells run.
# Extra arguments go to `promptintern experiment` (e.g. --report-only to rewrite the report from
# the cells finished so far).
set -euo pipefail
cd "$(dirname "$0")/.."
# glibc keeps the attention buffers of a full-prompt batch instead of mapping and unmapping them on
# every step (examples/experiments/nl2bash.md); nothing computed changes.
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456
exec nice -n 19 build/bin/promptintern experiment --config examples/experiments/nl2bash.yaml --threads 1 \
  --report docs/RESULTS.md "$@"
