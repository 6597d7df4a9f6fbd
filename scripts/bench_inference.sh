#!/usr/bin/env bash
# Reproduces the inference figures of docs/PERFORMANCE.md: trains the demo job through the trainer
# service, serves it with the inference service, and runs `promptintern bench` for query-only versus
# full-prompt mode and for batching on/off at concurrency 1, 4 and 16.
#   scripts/bench_inference.sh [SECONDS_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
SECONDS_PER_RUN=${1:-10}
WORK=$(mktemp -d)
TRAINER_PORT=50151
INFERENCE_PORT=50152
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN/promptintern-trainer" --listen 127.0.0.1:$TRAINER_PORT --metrics-listen "" \
  --data-dir "$WORK/data" --registry-dir "$WORK/registry" --allowed-paths "$WORK/data" examples 2> "$WORK/trainer.log" &
sleep 1
"$BIN/promptintern" submit --server 127.0.0.1:$TRAINER_PORT --config examples/jobs/demo.yaml --name bench --watch \
  > /dev/null 2> "$WORK/watch.log"
"$BIN/promptintern" alias --server 127.0.0.1:$TRAINER_PORT bench production 1 > /dev/null

serve() {  # serve BATCH_SIZE
  "$BIN/promptintern-inference" --listen 127.0.0.1:$INFERENCE_PORT --metrics-listen "" \
    --registry-dir "$WORK/registry" --model bench@production --max-batch-size "$1" 2> "$WORK/inference.log" &
  SERVER=$!
  until "$BIN/promptintern" generate --server 127.0.0.1:$INFERENCE_PORT --prompt warm --max-tokens 1 \
      > /dev/null 2>&1; do sleep 0.2; done
}

echo "## query-only versus full prompt (batch size 8, concurrency 4)"
serve 8
for mode in query_only full compressed; do
  "$BIN/promptintern" bench --server 127.0.0.1:$INFERENCE_PORT --concurrency 4 --duration "$SECONDS_PER_RUN" \
    --mode $mode --max-tokens 32
  echo
done
echo "## batching (query-only)"
for concurrency in 1 4 16; do
  "$BIN/promptintern" bench --server 127.0.0.1:$INFERENCE_PORT --concurrency $concurrency \
    --duration "$SECONDS_PER_RUN" --max-tokens 32 | sed "s/^/[batch 8] /"
done
kill $SERVER; wait $SERVER 2>/dev/null || true
serve 1
for concurrency in 1 4 16; do
  "$BIN/promptintern" bench --server 127.0.0.1:$INFERENCE_PORT --concurrency $concurrency \
    --duration "$SECONDS_PER_RUN" --max-tokens 32 | sed "s/^/[batch 1] /"
done
