#!/usr/bin/env bash
# Reproduces docs/RESULTS.md: trains every job in examples/jobs/nl2bash on ../shared/data/nl2bash
# (one after another; about an hour on two cores) and prints the result tables in Markdown.
#   scripts/results.sh [JOB...]      # default: all jobs
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin/promptintern
JOBS=("$@")
if [ ${#JOBS[@]} -eq 0 ]; then
  JOBS=(promptintern full-prompt query-only template-only linear exponential inverse-exponential)
fi
mkdir -p runs
for job in "${JOBS[@]}"; do
  echo "== $job" >&2
  rm -rf "runs/nl2bash-$job"
  "$BIN" train --config "examples/jobs/nl2bash/$job.yaml" > "runs/nl2bash-$job.table" 2> "runs/nl2bash-$job.log"
done
python3 scripts/results_table.py runs
