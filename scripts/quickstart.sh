#!/usr/bin/env bash
# README command 1: install what is missing, build, compile stories260K into
# model.mote and generate a story with the tiny runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS="${MOTE_MODELS:-../shared/models}"
scripts/install-deps.sh
cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
build/bin/motec compile "$MODELS/stories260K" -o model.mote
build/bin/mote-run model.mote -p "Once upon a time" -n 128
