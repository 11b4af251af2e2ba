#!/usr/bin/env bash
# ctest's gpu_check_dry_run: scripts/gpu-check.sh --dry-run-cpu on this build (every GPU benchmark program, the
# PEFT peers, train_steps.py and summarize.py, at tiny sizes on the CPU), so that a change which breaks the GPU
# check shows in CI rather than in a GPU session's few minutes. The gpu-labelled tests are left out: ctest runs
# them itself. Skipped (77) when .venv has no PEFT.
#   scripts/gpu-check/dry-run-test.sh BUILD_DIR
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:?usage: dry-run-test.sh BUILD_DIR}" && pwd)
if ! "$repo/.venv/bin/python" -c 'import peft, transformers' 2>/dev/null; then
  echo "gpu_check_dry_run: skipped: $repo/.venv has no peft/transformers (scripts/setup.sh --peers installs them)"
  exit 77
fi
# Within ctest's TIMEOUT (300 s), so that gpu-check.sh ends its stages itself rather than leave them running.
exec bash "$repo/scripts/gpu-check.sh" --dry-run-cpu --build "$build" --skip ctest_gpu --budget-s 240 \
  --out "$build/gpu-check-dry-run-test"
