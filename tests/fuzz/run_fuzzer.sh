#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS: reads the seeds (tests/fuzz/<target>, never written),
# keeps what it finds in WORK/corpus and writes any crashing input to WORK/ (crash-*, leak-*,
# timeout-*, oom-*; add it to the seeds once fixed). Exits non-zero when the target fails.
#   run_fuzzer.sh FUZZER SEEDS WORK SECONDS [libFuzzer flags...]
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
mkdir -p "$work/corpus"
exec "$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -max_len=65536 \
  -print_final_stats=1 -print_funcs=0 -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds"
