#!/usr/bin/env bash
# The sanitizer run: liboft_core, the plugin host and the seven backends with their test suites compiled with
# AddressSanitizer + UndefinedBehaviorSanitizer (OFT_SANITIZE=ON) into build/asan, then run through ctest
# with the runtime options and third-party suppressions of scripts/sanitize/. Any report fails the test.
# scripts/test.sh (and so CI) runs it; OFT_SKIP_SANITIZE=1 skips it locally (.ci/run never skips it).
#   scripts/sanitize.sh [ctest args...]
# LibTorch comes from the wheel, uninstrumented: our code's accesses are checked, LibTorch's own are not.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[sanitize] %s\n' "$*"; }
if [ "${OFT_SKIP_SANITIZE:-0}" = 1 ]; then
  log "skipped (OFT_SKIP_SANITIZE=1)"
  exit 0
fi
build="$repo/build/asan"
supp="$repo/scripts/sanitize"

# Core (adapters, tuner, safetensors, checkpoints, models, tokenizers, generation, the fuzzers' findings),
# the plugin host with its fixture plugins, and every backend's suite (their packing, codes and group
# indices). Left out, to keep CI well under its limit: the `oft` command and the tests that run it (its
# parsers are fuzzed, its library code runs here), the Python interop tests, the install and ABI tests.
suites=(test_config test_safetensors test_rotation_math test_block_layout test_oft_layers test_oft_layers_golden
        test_oft_model test_oft_model_golden test_eval_weight_cache test_format_registry test_plugin_host test_template_plugin
        test_models_golden test_models_checkpoint test_tokenizer test_llm_tokenizers test_generation
        test_input_scale_groups test_input_scale_fold test_fuzz_findings test_bnb test_gptq_backend
        test_aqlm_backend test_awq_backend test_eetq_backend test_hqq_backend test_inc_backend
        test_sdk_helpers)

# The sanitizer runtimes' options. gtest_discover_tests runs each suite at build time, so they are set
# before the build too.
#   ASan: a report ends the process with exit 1; LSan (leak check at exit) with its suppressions, not taking
#   thread-local storage as roots (use_tls=0): GCC 12's LSan reads glibc 2.36's dynamic TLS vector wrongly at times
#   and its tracer crashes ("Tracer caught signal 11" after "DTLS 13 at 0x2ee5b-0x10002ff5d", test_awq_backend
#   on an Intel Xeon in session 20, with no ASan report). Without those roots a block reachable only from a
#   thread_local would be reported as a leak: a false report, never a missed leak.
#   UBSan: every finding is fatal (the build also has -fno-sanitize-recover), with a stack trace.
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0:use_tls=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="suppressions=$supp/ubsan.supp:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# -O0: GCC's sanitizer instrumentation at -O1 doubles compile times (measured: 98 s vs 43 s for one
# nlohmann-heavy file); the tests' heavy arithmetic runs in LibTorch, which is not rebuilt. -g1: line
# numbers in reports. NDEBUG as in LibTorch's build, so that its headers mean the same. No CUDA: the
# sanitizers check host code, and there is no GPU here.
if [ ! -f "$build/build.ninja" ]; then
  torch_cmake=$("$repo/.venv/bin/python" -c 'import os, torch; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))')
  log "configuring $build"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1 -DNDEBUG" \
    -DOFT_SANITIZE=ON -DOFT_BUILD_BENCH=OFF -DOFT_CUDA=OFF -DTorch_DIR="$torch_cmake" >/dev/null
fi
export CCACHE_DIR="${CCACHE_DIR:-$repo/.cache/ccache}"
# The CUDA kernels' own source through the CPU emulation (tests/cuda), where the build found the CUDA
# toolkit's headers: ASan checks their shared and global memory accesses (about 2 minutes of build and run).
ninja -C "$build" build.ninja >/dev/null  # regenerated first when a CMakeLists.txt changed
if ninja -C "$build" -t query test_kernel_emulation >/dev/null 2>&1; then
  suites+=(test_cuda_emulation test_kernel_emulation test_bnb_kernel_emulation test_gptq_kernel_emulation
           test_awq_kernel_emulation test_hqq_kernel_emulation test_aqlm_kernel_emulation)
fi
start=$SECONDS
cmake --build "$build" --target "${suites[@]}"
log "build done in $((SECONDS - start)) s"

# One ctest test per suite (a generated ctest folder, build/asan/sanitized-suites), not one per case as in
# build/: a sanitized process takes 1.1 s to start (LibTorch's static initialisation through ASan's
# allocator), more than most suites take to run, and LSan then checks each suite's whole run at exit.
tests="$build/sanitized-suites"
# Cases left out of their suite: the safe-scan cases run apart (below); TransformersLoadsSavedModels runs
# Python's transformers on files the other cases already read and write sanitized (50 s of Python here).
declare -A filter_of=([test_plugin_host]="-SafeScanTest.*" [test_models_checkpoint]="-*.TransformersLoadsSavedModels")
mkdir -p "$tests"
{
  echo "# Generated by scripts/sanitize.sh."
  for suite in "${suites[@]}"; do
    filter=${filter_of[$suite]:-}
    echo "add_test($suite \"$build/bin/$suite\"${filter:+ --gtest_filter=$filter})"
  done
  # The safe-scan cases load fixture plugins that raise SIGSEGV on purpose in the scan child and check that
  # it died of signal 11, which ASan's SEGV handler would turn into exit 1: they run with handle_segv=0
  # (our invalid accesses are still caught by ASan's checks; only a raw SEGV is left to the kernel).
  echo "add_test(test_plugin_host_safe_scan \"$build/bin/test_plugin_host\" --gtest_filter=SafeScanTest.*)"
  echo "set_tests_properties(test_plugin_host_safe_scan PROPERTIES ENVIRONMENT \"ASAN_OPTIONS=$ASAN_OPTIONS:handle_segv=0\")"
} >"$tests/CTestTestfile.cmake"
start=$SECONDS
(cd "$tests" && ctest --output-on-failure -j2 --timeout 900 "$@")
log "tests done in $((SECONDS - start)) s"
