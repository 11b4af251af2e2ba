#!/usr/bin/env bash
# README command 2: set up what is missing, build, and run every test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bash "$repo/scripts/setup.sh" --peers  # PEFT: the Python side of the interop tests
cd "$repo/build"
ctest --output-on-failure -j2 "$@"
