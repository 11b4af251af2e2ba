#!/usr/bin/env bash
# Runs the GPU tests that launch our CUDA kernels under NVIDIA's compute-sanitizer with one TOOL
# (memcheck: out-of-bounds and misaligned accesses; racecheck: shared-memory races between threads). These are
# what the kernels' CPU emulation cannot see, since it runs a block's threads one after another.
# scripts/gpu-check.sh runs it on the GPU machine, one stage per tool.
#   sanitize-kernels.sh TOOL BIN_DIR
# Exit status: 0 when every program ran its tests with no report, 1 otherwise (also when a test skipped:
# a clean run that tested nothing proves nothing).
set -uo pipefail
tool=${1:?usage: sanitize-kernels.sh memcheck|racecheck BIN_DIR}
bin=${2:?usage: sanitize-kernels.sh memcheck|racecheck BIN_DIR}
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
[ -x "$sanitizer" ] || { echo "compute-sanitizer not found (PATH, /usr/local/cuda/bin)"; exit 1; }

# LibTorch's caching allocator hands out pieces of large blocks, inside which memcheck sees no bounds.
export PYTORCH_NO_CUDA_MEMORY_CACHING=1

# The core's kernels through the tests whose work they are, at sizes small enough for the sanitizer's slowdown
# (not the 9000-token case, nor the blocks above 64 that take LibTorch's operators); then every plugin's GPU
# test program (test_<plugin>_cuda, all of it: each is small).
programs=("test_cuda_rotation --gtest_filter=Dtypes/CudaRotate.*:CudaRotation.Cayley*:CudaRotation.Exact*:CudaRotation.Coft*")
for program in "$bin"/test_*_cuda; do
  [ -x "$program" ] && programs+=("$(basename "$program")")
done
status=0
for entry in "${programs[@]}"; do
  read -r program filter <<<"$entry"
  echo "== $tool: $program $filter"
  output=$("$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 20 "$bin/$program" ${filter:+"$filter"} \
    --gtest_brief=1 2>&1)
  rc=$?
  printf '%s\n' "$output"
  if ((rc != 0)); then
    echo "== $tool: $program FAILED (rc $rc)"
    status=1
  elif grep -qE '^\[  SKIPPED \] [0-9]+ test' <<<"$output"; then
    echo "== $tool: $program skipped tests: nothing was checked"
    status=1
  fi
done
exit "$status"
