#!/usr/bin/env bash
# The demo behind `make demo`: the main job on its embedded default.
set -euo pipefail
BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/bin"
SHARED=${PROMPTINTERN_SHARED:-../shared}

if [ -f "$SHARED/models/stories260K/model.safetensors" ]; then
  echo "== greedy generation from the pretrained stories260K fixture"
  "$BIN/promptintern" generate --model "$SHARED/models/stories260K" --max-tokens 60 --temperature 0
fi
