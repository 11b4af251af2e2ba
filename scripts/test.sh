#!/usr/bin/env bash
# README command 2: set up what is missing, build, and run every test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# --peers: PEFT, the Python side of the interop tests; warnings fail the build here (and so in CI).
bash "$repo/scripts/setup.sh" --peers --warnings-as-errors
bash "$repo/scripts/check_format.sh"
# The real all-MiniLM-L6-v2, for the main-job and classification interop tests.
OFT_MINILM_DIR=$(bash "$repo/scripts/fetch_minilm.sh")
export OFT_MINILM_DIR
bash "$repo/scripts/cpu_features.sh"
# Every libFuzzer target on its committed corpus plus a fixed-seed bounded run (clang build in build/fuzz).
bash "$repo/scripts/fuzz.sh" --smoke
cd "$repo/build"
# Two suites at a time, each with LibTorch's OpenMP threads: busy-waiting OpenMP threads of one suite
# steal the cores the other needs (measured, the AQLM quantizer and demo smoke tests run side by side:
# 19.8 s and 21.7 s busy-waiting, 11.4 s and 12.7 s passive).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ctest --output-on-failure -j2 "$@"
# Every test again as on a CPU with AVX2 but no AVX-512, and on one without AVX2 (scripts/test-cpu-capabilities.sh).
bash "$repo/scripts/test-cpu-capabilities.sh" -- "$@"
# The core, plugin-host and bnb/gptq suites again under ASan + UBSan (build/asan); OFT_SKIP_SANITIZE=1 skips it.
bash "$repo/scripts/sanitize.sh"
