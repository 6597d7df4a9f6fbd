#!/usr/bin/env bash
# The demo behind `make demo`: both services on loopback. The trainer runs the embedded default job
# (examples/jobs/demo.yaml: a small model learns the synthetic NL-to-bash task through the
# PromptIntern stages) and publishes it; the inference service serves it by alias to query-only
# requests; the end shows what the internalized prompt saves per request and under load.
set -euo pipefail
BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/bin"
WORK=${DEMO_DIR:-runs/demo}
rm -rf "$WORK"
mkdir -p "$WORK"

cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

# Prints the port a service started with --listen 127.0.0.1:0 logged.
port_of() {
  for _ in $(seq 1 600); do
    if grep -q "serving on port" "$1"; then
      sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$1" | head -n 1
      return 0
    fi
    sleep 0.1
  done
  echo "demo: the service did not start; see $1" >&2
  return 1
}

echo "== starting the trainer service"
# The demo job names its template files under examples/: the trainer reads only files under its
# allowed paths.
"$BIN/promptintern-trainer" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$WORK/trainer-data" \
  --registry-dir "$WORK/registry" --allowed-paths examples 2> "$WORK/trainer.log" &
TRAINER=127.0.0.1:$(port_of "$WORK/trainer.log")
echo "== training the demo job through it (progress below)"
"$BIN/promptintern" submit --server "$TRAINER" --config examples/jobs/demo.yaml --name demo --watch
"$BIN/promptintern" alias --server "$TRAINER" demo production 1
"$BIN/promptintern" versions --server "$TRAINER" demo

echo "== starting the inference service on demo@production"
"$BIN/promptintern-inference" --listen 127.0.0.1:0 --metrics-listen "" --registry-dir "$WORK/registry" \
  --model demo@production 2> "$WORK/inference.log" &
INFERENCE=127.0.0.1:$(port_of "$WORK/inference.log")
until "$BIN/promptintern" generate --server "$INFERENCE" --prompt warm --max-tokens 1 > /dev/null 2>&1; do sleep 0.2; done

echo "== query-only requests (answer, then what the full prompt would have cost)"
for query in "Count the number of lines in notes.txt" \
             "Find all files named '*.log' under /var/log modified in the last 3 days" \
             "Show disk usage of the home directory in human readable form"; do
  echo "> $query"
  "$BIN/promptintern" generate --server "$INFERENCE" --prompt "$query" --max-tokens 48 --stop $'\n'
done

RUN_DIR=$(ls -d "$WORK"/trainer-data/jobs/*/run)
# Three answers say little: the run scored every mode on held-out validation examples.
echo "== how often answers are exactly right: the run's evaluation on its validation set"
"$BIN/promptintern" report "$RUN_DIR"

echo "== under load: query-only versus the full prompt it replaces (concurrency 4, 5 s each)"
"$BIN/promptintern" bench --server "$INFERENCE" --concurrency 4 --duration 5 --mode query_only
"$BIN/promptintern" bench --server "$INFERENCE" --concurrency 4 --duration 5 --mode full
echo "== training report: $RUN_DIR/report.json"
