#!/usr/bin/env bash
# Every test again as on lesser CPUs: once with AVX2 as the widest instruction set, once with code for every
# x86-64 CPU. The CPU kernels of oft and its plugins (OFT_CPU_CAPABILITY), LibTorch's own (ATEN_CPU_CAPABILITY),
# MKL's and oneDNN's are capped together, so the whole suite, PEFT and library goldens included, runs down the
# paths a CPU without AVX-512 (AVX512-BF16, AMX) or without AVX2 takes, on whatever machine runs it.
# Usage: scripts/test-cpu-capabilities.sh [avx2] [default] [-- ctest options]; run from anywhere after a build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
capabilities=()
while (($#)) && [[ $1 != -- ]]; do capabilities+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
((${#capabilities[@]})) || capabilities=(avx2 default)
cd "$repo/build"
# Not the tests that build or read the sources and binaries rather than run kernels (the install tests compile
# for minutes), those that pin the portable paths themselves, nor those of processes killed, hung or racing,
# whose timing an instruction set does not change (each run of them is one more chance of a slow machine's flake),
# nor the GPU check's dry run (it tests scripts and report shapes).
skipped='sdk_install_builds_template_plugin|host_install_builds_host_application|no_backend_names_outside_plugins'
skipped+='|liboft_core_links_no_cuda|sdk_abi_matches_baseline|.*_same_results_on_portable_cpu_paths'
skipped+='|DistributedTraining\.A(KilledWorker|WorkerWhosePeerDies|HungWorker).*|test_crash_safe_outputs'
skipped+='|test_train_crash_resume|test_concurrent_plugin_cache|SafeScanTest\.PluginsThatCrash.*'
skipped+='|gpu_check_dry_run'
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
for capability in "${capabilities[@]}"; do
  case $capability in
    avx2) mkl=AVX2 onednn=AVX2 ;;
    default) mkl=SSE4_2 onednn=SSE41 ;;
    *) echo "test-cpu-capabilities.sh: unknown capability '$capability'; expected avx2 or default" >&2; exit 2 ;;
  esac
  echo "== every test with the CPU capped at $capability (OFT/ATEN_CPU_CAPABILITY=$capability," \
    "MKL_ENABLE_INSTRUCTIONS=$mkl, ONEDNN_MAX_CPU_ISA=$onednn)"
  OFT_CPU_CAPABILITY=$capability ATEN_CPU_CAPABILITY=$capability MKL_ENABLE_INSTRUCTIONS=$mkl \
    ONEDNN_MAX_CPU_ISA=$onednn ctest --output-on-failure -j2 -E "^($skipped)\$" "$@"
done
