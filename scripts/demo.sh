#!/usr/bin/env bash
# The demo behind `make demo`: the main job on its embedded default. A from-scratch model learns
# the project's synthetic NL-to-bash task through the PromptIntern stages, then query-only
# inference is compared with the full prompt.
set -euo pipefail
BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/bin"
OUT=${DEMO_OUTPUT:-runs/demo}

rm -rf "$OUT"
"$BIN/promptintern" train --config examples/jobs/demo.yaml --output "$OUT"
