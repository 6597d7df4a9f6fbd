#!/usr/bin/env bash
# Reproduces the quality figures of docs/PERFORMANCE.md: trains a job (the demo job by default) through the trainer
# service, then serves it with the inference service and runs `promptintern bench` (query-only,
# concurrency 4, 32 new tokens) with shadow comparison at rates 0, 0.05 and 0.2 (what it costs live
# traffic: throughput and p99), and with the confidence fallback at two thresholds (the share of
# requests that fall back and the savings net of them).
#   scripts/bench_quality.sh [SECONDS_PER_RUN] [THRESHOLD_A] [THRESHOLD_B] [JOB_FILE]
# JOB_FILE defaults to examples/jobs/demo.yaml (1000 steps: hours on a small shared machine).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
SECONDS_PER_RUN=${1:-10}
THRESHOLDS=("${2:-0.5}" "${3:-0.8}")
JOB=${4:-examples/jobs/demo.yaml}
WORK=$(mktemp -d)
TRAINER_PORT=50161
INFERENCE_PORT=50162
METRICS_PORT=50163
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN/promptintern-trainer" --listen 127.0.0.1:$TRAINER_PORT --metrics-listen "" \
  --data-dir "$WORK/data" --registry-dir "$WORK/registry" --allowed-paths "$WORK/data" examples 2> "$WORK/trainer.log" &
sleep 1
"$BIN/promptintern" submit --server 127.0.0.1:$TRAINER_PORT --config "$JOB" --name bench --watch \
  > /dev/null 2> "$WORK/watch.log"
"$BIN/promptintern" alias --server 127.0.0.1:$TRAINER_PORT bench production 1 > /dev/null

serve() {  # serve FLAGS...
  "$BIN/promptintern-inference" --listen 127.0.0.1:$INFERENCE_PORT --metrics-listen 127.0.0.1:$METRICS_PORT \
    --registry-dir "$WORK/registry" --model bench@production --max-batch-size 8 "$@" 2> "$WORK/inference.log" &
  SERVER=$!
  until "$BIN/promptintern" generate --server 127.0.0.1:$INFERENCE_PORT --prompt warm --max-tokens 1 \
      > /dev/null 2>&1; do sleep 0.2; done
}
metric() {  # metric NAME [LABEL]: the sum of its series (those whose labels contain LABEL)
  curl -s http://127.0.0.1:$METRICS_PORT/metrics | awk -v name="$1" -v label="${2:-}" \
    '($1 == name || index($1, name "{") == 1) && index($1, label) > 0 { sum += $2 } END { printf "%g\n", sum }'
}
bench() {
  "$BIN/promptintern" bench --server 127.0.0.1:$INFERENCE_PORT --concurrency 4 --duration "$SECONDS_PER_RUN" \
    --max-tokens 32
}

for rate in 0 0.05 0.2; do
  echo "## shadow rate $rate"
  serve --shadow-rate "$rate"
  bench
  sleep 2  # the last shadows finish
  echo "shadow          $(metric promptintern_shadow_requests_total) compared, $(metric promptintern_shadow_dropped_total) dropped;" \
       "edit similarity summed $(metric promptintern_shadow_agreement_sum edit_similarity)," \
       "exact matches $(metric promptintern_shadow_agreement_sum exact_match)"
  kill $SERVER; wait $SERVER 2>/dev/null || true
  echo
done
for threshold in "${THRESHOLDS[@]}"; do
  echo "## min confidence $threshold"
  serve --min-confidence "$threshold"
  bench
  kill $SERVER; wait $SERVER 2>/dev/null || true
  echo
done
