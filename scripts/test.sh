#!/usr/bin/env bash
# README command 2: set up what is missing, build, and run every test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bash "$repo/scripts/setup.sh" --peers  # PEFT: the Python side of the interop tests
# The real all-MiniLM-L6-v2, for the main-job and classification interop tests.
OFT_MINILM_DIR=$(bash "$repo/scripts/fetch_minilm.sh")
export OFT_MINILM_DIR
cd "$repo/build"
ctest --output-on-failure -j2 "$@"
