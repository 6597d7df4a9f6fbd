#!/usr/bin/env bash
# Reproduces the data-parallel figures of docs/PERFORMANCE.md: the demo job's training (STEPS
# optimizer steps of the global batch, evaluation cut to one request) as one process and as ranks
# on this host over loopback, each rank with THREADS / RANKS compute threads.
#   scripts/bench_distributed.sh [STEPS] [RANKS...]      (default: 100 steps, ranks 1 2; STEPS > 20)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
STEPS=${1:-100}
shift || true
RANK_COUNTS=("${@:-1 2}")
read -r -a RANK_COUNTS <<< "${RANK_COUNTS[*]}"
THREADS=$(nproc)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The demo job with absolute template paths (the file moves), fewer steps and a token evaluation.
sed -e "s|\.\./templates/|$PWD/examples/templates/|" \
    -e "s|^  steps: .*|  steps: $STEPS|" \
    -e "/^eval:/,/^$/d" examples/jobs/demo.yaml > "$WORK/job.yaml"
printf 'eval: {limit: 1, stage_limit: 0, max_new_tokens: 4, modes: [query_only]}\n' >> "$WORK/job.yaml"

printf '%-6s %-14s %-16s %s\n' ranks "threads/rank" "train seconds" "steps/s"
for ranks in "${RANK_COUNTS[@]}"; do
  threads=$(( THREADS / ranks > 0 ? THREADS / ranks : 1 ))
  sed -i "s|^threads: .*|threads: $threads|" "$WORK/job.yaml"
  out="$WORK/run-$ranks"
  pids=()
  for (( rank = ranks - 1; rank >= 0; rank-- )); do
    MASTER_ADDR=127.0.0.1 MASTER_PORT=29877 WORLD_SIZE=$ranks RANK=$rank \
      "$BIN/promptintern" train --config "$WORK/job.yaml" --output "$out" > /dev/null 2> "$WORK/rank$rank.log" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { cat "$WORK"/rank*.log >&2; exit 1; }
  done
  seconds=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['train_seconds'])" "$out/report.json")
  printf '%-6s %-14s %-16.1f %.2f\n' "$ranks" "$threads" "$seconds" "$(python3 -c "print($STEPS / $seconds)")"
done
