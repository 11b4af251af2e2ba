#!/usr/bin/env bash
# One command for the GPU machine (docs/gpu-check.md): builds what the GPU checks need with the device kit
# (../shared/device/, carried as .cache/device-kit), runs the benchmarks of issue 12 side by side with
# PEFT on the same GPU, the gpu-labelled tests and our kernels under compute-sanitizer, and writes ONE results
# JSON plus logs into DIR.
# Every stage has its own time limit, cut further so that the whole run ends within --budget-s.
#
#   scripts/gpu-check.sh [--out DIR] [--send DIR] [--kit DIR] [--budget-s S] [--skip-build] [--no-compile]
#   scripts/gpu-check.sh --dry-run-cpu [--out DIR] [--send DIR]
#     --out DIR       results.json, env.json, bench/*.json, logs/*.log (default build-device/gpu-check,
#                     with --dry-run-cpu build/gpu-check-dry-run)
#     --send DIR      after every stage, results.json and gpu-check.tar.gz (all of --out) into DIR, and at the
#                     end summary.txt (the printed summary): three files, since the device tool brings back
#                     at most 8 files from its $OUT; a run killed from outside still leaves the last ones
#     --kit DIR       the device kit (default .cache/device-kit: scripts/gpu-check/prepare-kit.sh fills it)
#     --budget-s S    wall-clock budget of the whole run (default 530: a 10-minute command, 9 minutes of work
#                     with room for start-up and sending the files back)
#     --skip-build    use build-device/ as it is (a second run on a machine that is still warm)
#     --python PY     the Python with torch and PEFT (default python3; LibTorch comes from its torch)
#     --prefix DIR    where the kit unpacks its packages (default /tmp/oftdeps)
#     --no-compile    leave out PEFT under torch.compile (run last, in the time left; compiling takes a while)
#     --stages LIST   run only these stages (comma-separated names, e.g. configure,build,ctest_gpu,oft_linear_oft:
#                     a short second run when little device time is left); the others are left out of results.json
#     --skip LIST     leave out these stages (e.g. ctest_gpu, where the dry run itself runs inside ctest)
#     --build DIR     with --dry-run-cpu: the build folder whose programs it runs (default build)
#     --dry-run-cpu   here, on the CPU: builds nothing, runs every stage on the existing build/ with
#                     .venv/bin/python at tiny sizes (about a minute), and writes the same JSON shape; a
#                     benchmark's error or a goal without its numbers fails it (ctest's gpu_check_dry_run)
# Exit status: 0 when every stage ran (goals may still fail: read results.json), 1 otherwise.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2
log() { printf '[gpu-check] %s\n' "$*"; }
die() { printf '[gpu-check] error: %s\n' "$*" >&2; exit 2; }

out="" send="" kit=.cache/device-kit budget=530 skip_build=0 compile=1 dry=0 gpu_python=python3 prefix=/tmp/oftdeps
stages="" skip="" build=""
while (($#)); do
  case "$1" in
    --out) out=$2; shift ;;
    --send) send=$2; shift ;;
    --kit) kit=$2; shift ;;
    --budget-s) budget=$2; shift ;;
    --skip-build) skip_build=1 ;;
    --python) gpu_python=$2; shift ;;
    --prefix) prefix=$2; shift ;;
    --no-compile) compile=0 ;;
    --stages) stages=",$2,"; shift ;;
    --skip) skip=",$2,"; shift ;;
    --build) build=$2; shift ;;
    --dry-run-cpu) dry=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ $budget =~ ^[0-9]+$ ]] || die "--budget-s: expected whole seconds, got '$budget'"

if ((dry)); then
  build=${build:-$repo/build} python=$repo/.venv/bin/python device=cpu size=(--small) compile=0
  out=${out:-$build/gpu-check-dry-run}
  linear_tokens=64,32 quantized_tokens=1,16 llama_config=bench/gpu/configs/llama-tiny.json
else
  [ -z "$build" ] || die "--build goes with --dry-run-cpu (on the GPU machine the kit builds into build-device)"
  build=$repo/build-device python=$gpu_python device=cuda size=()
  out=${out:-$build/gpu-check}
  linear_tokens=8192,2048 quantized_tokens=1,2048 llama_config=bench/gpu/configs/llama-1.1b.json
fi
mkdir -p "$out/logs" "$out/bench" || die "cannot create $out"
out=$(cd "$out" && pwd)
rm -rf "$out"/logs/* "$out"/bench/*.json "$out/stages.tsv" "$out/results.json" "$out/env.json" "$out/ctest-gpu.xml" \
  "$out/not-built.txt" "$out/summary.txt"
if [ -n "$send" ]; then
  mkdir -p "$send" || die "cannot create $send"
  send=$(cd "$send" && pwd)
fi
t_start=$(date +%s)
deadline=$((t_start + budget))

# The device kit's prefix (build-on-device.sh unpacks it there): the programs find spdlog, fmt, ICU and
# sentencepiece through it; caches stay under /tmp, as the kit's own script keeps them.
if ((!dry)); then
  export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CMAKE_PREFIX_PATH="$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export CCACHE_DIR=${CCACHE_DIR:-/tmp/oft-ccache} XDG_CACHE_HOME=${XDG_CACHE_HOME:-/tmp/oft-device-cache}
  # CMake (ours and LibTorch's config) looks for nvcc on PATH; the toolkit's usual home may not be on it.
  if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
fi
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # (nproc obeys OMP_NUM_THREADS)
((dry)) && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # a small shared CPU: threads would only add noise
export PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
# Nothing can be downloaded there; and CMake 4 (pip's cmake) refuses old cmake_minimum_required lines in
# package configs unless told otherwise, also when ninja reruns CMake during the build.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 CMAKE_POLICY_VERSION_MINIMUM=${CMAKE_POLICY_VERSION_MINIMUM:-3.5}

mode=gpu
((dry)) && mode="dry-run-cpu"
IFS=, read -r linear_large linear_small <<<"$linear_tokens"
IFS=, read -r quantized_gemv quantized_gemm <<<"$quantized_tokens"
# summarize [--quiet]: results.json from what the stages left so far (and the table, unless --quiet).
summarize() {
  "$python" scripts/gpu-check/summarize.py --out "$out" --mode "$mode" --build "$build" \
    --linear-large "$linear_large" --linear-small "$linear_small" \
    --quantized-gemv "$quantized_gemv" --quantized-gemm "$quantized_gemm" --started "$t_start" "$@"
}
# With --send: results.json, summary.txt (once it exists) and a tarball of the whole folder into $send, each
# written whole before it is renamed.
send_files() {
  [ -n "$send" ] || return 0
  local file
  for file in results.json summary.txt; do
    [ -f "$out/$file" ] && cp "$out/$file" "$send/.$file.tmp" && mv "$send/.$file.tmp" "$send/$file"
  done
  tar -czf "$send/.gpu-check.tar.gz.tmp" -C "$(dirname "$out")" "$(basename "$out")" 2>/dev/null &&
    mv "$send/.gpu-check.tar.gz.tmp" "$send/gpu-check.tar.gz"
  return 0
}
# Bash runs a trap once the stage's program has ended; results.json is current after every stage anyway.
trap 'log "stopped by TERM"; summarize --quiet; send_files; exit 143' TERM
trap 'log "stopped by INT"; summarize --quiet; send_files; exit 130' INT

# stage NAME MAX_S [--stdout FILE] CMD...: runs CMD under `timeout` with at most MAX_S seconds and never past
# the deadline (minus a reserve for the summary), output in logs/NAME.log (stdout in FILE if given); one
# line per stage in stages.tsv. A stage that gets under 5 s is skipped (rc 125).
reserve=15
stage() {
  local name=$1 max=$2 stdout=""
  shift 2
  if [ -n "$stages" ] && [[ $stages != *",$name,"* ]]; then
    log "$name: not selected (--stages)"
    return 0
  fi
  if [[ $skip == *",$name,"* ]]; then
    log "$name: left out (--skip)"
    return 0
  fi
  if [ "$1" = --stdout ]; then stdout=$2; shift 2; fi
  local left=$((deadline - reserve - $(date +%s))) rc t0 dt limit
  limit=$((max < left ? max : left))
  if ((limit < 5)); then
    log "$name: skipped (${left}s left of the budget)"
    printf '%s\t125\t0\t%s\tskipped\n' "$name" "$max" >>"$out/stages.tsv"
    return 125
  fi
  log "$name (limit ${limit}s) ..."
  t0=$(date +%s.%N)
  if [ -n "$stdout" ]; then
    timeout -k 10 "$limit" "$@" >"$stdout" 2>"$out/logs/$name.log"
  else
    timeout -k 10 "$limit" "$@" >"$out/logs/$name.log" 2>&1
  fi
  rc=$?
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  local note=ok
  ((rc == 124 || rc == 137)) && note=timed_out
  ((rc != 0 && rc != 124 && rc != 137)) && note=failed
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$dt" "$limit" "$note" >>"$out/stages.tsv"
  log "$name: $note (rc $rc, ${dt}s)"
  summarize --quiet  # the excerpt of a failed stage's log is in results.json and printed at the end
  send_files
  return "$rc"
}

failures=0
run() { stage "$@" || failures=$((failures + 1)); }

run env 60 --stdout "$out/env.json" "$python" scripts/gpu-check/environment.py --device "$device"

# --- build ----------------------------------------------------------------------------------------
# Only the programs the checks run (a full build would not leave time for them): the plugin scanner, oft's
# CUDA library, the plugins that have a CUDA companion library (oft_<plugin>_cuda) and those
# companions, the GPU bench programs, the `oft` program (the train_steps stage runs it), and the test
# programs that give their tests the label gpu or are named for CUDA or GPUs.
needed_targets() {
  local all cuda_plugins labelled
  all=$(ninja -C "$build" -t targets all 2>/dev/null |
        sed -nE 's/^cmake_object_order_depends_target_([A-Za-z0-9_.+-]+): phony$/\1/p' | sort -u)
  cuda_plugins=$(sed -nE 's/^oft_([a-z0-9]+)_cuda$/\1/p' <<<"$all" | paste -sd'|')
  # Test programs whose gtest_discover_tests line gives the label gpu, and those named for CUDA or GPUs.
  labelled=$(grep -rhoE --include=CMakeLists.txt --include='*.cmake' \
               'gtest_discover_tests\([A-Za-z0-9_]+[^)]*LABELS[^)]*gpu' tests plugins 2>/dev/null |
             sed -E 's/^gtest_discover_tests\(([A-Za-z0-9_]+).*/\1/' | paste -sd'|')
  grep -E "^(oft|oft-plugin-scan|bench_gpu_[a-z0-9_]+|oft_cuda[a-z0-9_]*|oft_[a-z0-9_]+_cuda${cuda_plugins:+|oft_backend_($cuda_plugins)}|test_[a-z0-9_]*(cuda|gpu)[a-z0-9_]*${labelled:+|$labelled})\$" <<<"$all"
}
if ((!dry && !skip_build)); then
  if [ -f "$kit/build-on-device.sh" ]; then
    run configure 200 bash "$kit/build-on-device.sh" --configure-only --prefix "$prefix" --python "$python" \
      --out "$out/logs/kit"
  else  # the PEFT benchmarks need no build: they still run
    log "error: no device kit in $kit (run scripts/gpu-check/prepare-kit.sh here first)"
    failures=$((failures + 1))
  fi
  if [ -f "$build/build.ninja" ]; then
    mapfile -t targets < <(needed_targets)
    if ((${#targets[@]})); then
      log "targets: ${targets[*]}"
      # At most 300 s, and never so long that the tests and benchmarks after it get under 240 s; in a short run
      # (less than 360 s left here), which that rule would leave without a build, under a third of the time.
      left=$((deadline - reserve - $(date +%s)))
      after=$((left >= 360 ? 240 : left / 3))
      left=$((left - after))
      run build $((left < 300 ? left : 300)) cmake --build "$build" -j "$cores" --target "${targets[@]}" -- -k 0
      # gtest_discover_tests names a program it found unbuilt <target>_NOT_BUILT; only the targets built here count.
      ctest --test-dir "$build" -N -R '_NOT_BUILT$' 2>/dev/null | sed -nE 's/^ *Test +#[0-9]+: +//p' |
        grep -Fx -f <(printf '%s_NOT_BUILT\n' "${targets[@]}") >"$out/not-built.txt"
      [ -s "$out/not-built.txt" ] && log "test programs not built: $(paste -sd' ' "$out/not-built.txt")"
    else
      log "error: found none of the needed targets in $build/build.ninja"
      failures=$((failures + 1))
    fi
  fi
fi

# --- the gpu-labelled tests (their programs were built with the rest) ----------------------------
# On the GPU machine finding no gpu test is an error; here (nothing built for them) it is not.
no_tests=error
((dry)) && no_tests=ignore
# Each gpu test has a TIMEOUT of 90 s (tests/CMakeLists.txt): ctest ends a hung one itself and still writes the
# JUnit file before the stage's limit.
run ctest_gpu 120 ctest --test-dir "$build" -L gpu --output-on-failure -j 8 --no-tests="$no_tests" \
  --output-junit "$out/ctest-gpu.xml"

# --- benchmarks: ours and PEFT's on the same device, one after the other -------------------------
bin=$build/bin
[ -x "$bin/bench_gpu_oft_linear" ] || log "no $bin/bench_gpu_oft_linear: build it (cmake --build build --target bench_gpu_oft_linear)"
run oft_linear_oft 90 --stdout "$out/bench/oft_linear.oft.json" \
  "$bin/bench_gpu_oft_linear" --device "$device" --dtype bf16 --tokens "$linear_tokens" "${size[@]}"
# The same with the CUDA-core rotation kernels (no tensor cores), for the comparison in one run.
run oft_linear_cuda_cores 60 --stdout "$out/bench/oft_linear.oft_cuda_cores.json" \
  "$bin/bench_gpu_oft_linear" --device "$device" --dtype bf16 --tokens "$linear_tokens" --cuda-cores "${size[@]}"
run oft_linear_peft 120 --stdout "$out/bench/oft_linear.peft.json" \
  "$python" bench/gpu/peft_oft_linear_gpu.py --device "$device" --dtype bf16 --tokens "$linear_tokens" "${size[@]}"
run llama_step_oft 120 --stdout "$out/bench/llama_step.oft.json" \
  "$bin/bench_gpu_llama_step" --config "$llama_config" --device "$device" --dtype bf16 "${size[@]}"
run llama_step_peft 150 --stdout "$out/bench/llama_step.peft.json" \
  "$python" bench/gpu/peft_llama_step.py --config "$llama_config" --device "$device" --dtype bf16 "${size[@]}"
# NF4 (the bnb plugin's bnb-nf4 method) computing in bf16, against the dense bf16 layer.
run nf4_oft 60 --stdout "$out/bench/quantized_linear.oft.json" \
  "$bin/bench_gpu_quantized_linear" --method bnb-nf4 --options '{"bnb_4bit_compute_dtype": "bfloat16"}' \
  --device "$device" --dtype bf16 --tokens "$quantized_tokens" "${size[@]}"
# Issue 15: `oft train` in one process and data-parallel over every GPU of the machine (NCCL; Gloo on the CPU of
# the dry run), on the tiny LLaMA of the golden data: the data-parallel path's overhead per step.
ranks=1
((dry)) || ranks=$("$python" -c 'import torch; print(max(1, torch.cuda.device_count()))' 2>/dev/null || echo 1)
train_steps_size=()
((dry)) && train_steps_size=(--short 4 --long 12)
run train_steps 90 --stdout "$out/bench/train_steps.oft.json" \
  "$python" scripts/gpu-check/train_steps.py --oft "$bin/oft" --model tests/golden/data/models/hf/llama_sharded \
  --device "$device" --ranks "$ranks" "${train_steps_size[@]}"
# Our kernels under compute-sanitizer (scripts/gpu-check/sanitize-kernels.sh): out-of-bounds accesses and
# shared-memory races, which the CPU emulation cannot show. Before the compile stage, which only gives context.
if ((!dry)); then
  run kernels_memcheck 75 bash scripts/gpu-check/sanitize-kernels.sh memcheck "$bin"
  run kernels_racecheck 75 bash scripts/gpu-check/sanitize-kernels.sh racecheck "$bin"
fi
# Where the q_proj,v_proj step's GPU time goes, ours and PEFT's, per kernel (Nsight Systems, when the machine has it;
# profile/*_cuda_gpu_kern_sum.csv in the archive).
if ((!dry)) && { command -v nsys >/dev/null || [ -x /usr/local/cuda/bin/nsys ]; }; then
  run llama_step_profile 150 bash scripts/gpu-check/profile-step.sh "$out/profile" "$bin" "$python" "$llama_config"
else
  ((dry)) || log "no nsys on this machine: the per-kernel profile of the LLaMA step is left out"
fi
# PEFT under torch.compile last: compiling takes up to a minute per size, so it gets what time is left.
if ((compile)); then
  run oft_linear_peft_compile 150 --stdout "$out/bench/oft_linear.peft_compile.json" \
    "$python" bench/gpu/peft_oft_linear_gpu.py --device "$device" --dtype bf16 --tokens "$linear_tokens" \
    --compile-only "${size[@]}"
fi

# --- one JSON, and the summary ------------------------------------------------------------------
summarize | tee "$out/summary.txt" || { log "summarize.py: failed, or the dry run is not clean (above)"; failures=$((failures + 1)); }
log "results: $out/results.json ($(($(date +%s) - t_start))s in all, $failures stage(s) not ok)" |
  tee -a "$out/summary.txt"
send_files
((failures == 0))
