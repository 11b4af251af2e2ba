#!/usr/bin/env bash
# Where the LLaMA step's GPU time goes, ours and PEFT's: Nsight Systems traces each benchmark on the q_proj,v_proj
# target set (model set-up, two warm-up steps and three timed ones) and writes the kernels' summed times (nsys stats'
# cuda_gpu_kern_sum report, CSV: total time, calls, average per kernel name) into OUT; the traces themselves are
# deleted (large). scripts/gpu-check.sh runs it when the machine has nsys.
#   profile-step.sh OUT BIN_DIR PYTHON CONFIG
# Exit status: 0 when both profiles and their reports were written, 1 otherwise.
set -uo pipefail
out=${1:?usage: profile-step.sh OUT BIN_DIR PYTHON CONFIG}
bin=${2:?usage: profile-step.sh OUT BIN_DIR PYTHON CONFIG}
python=${3:?usage: profile-step.sh OUT BIN_DIR PYTHON CONFIG}
config=${4:?usage: profile-step.sh OUT BIN_DIR PYTHON CONFIG}
nsys=$(command -v nsys || echo /usr/local/cuda/bin/nsys)
[ -x "$nsys" ] || { echo "nsys not found (PATH, /usr/local/cuda/bin)"; exit 1; }
mkdir -p "$out"
status=0
profile() {  # NAME COMMAND...
  local name=$1
  shift
  echo "== nsys: $name"
  "$nsys" profile --trace cuda --sample none --cpuctxsw none --force-overwrite true --output "$out/$name" "$@" \
    >"$out/$name.log" 2>&1 || status=1
  "$nsys" stats --report cuda_gpu_kern_sum --format csv --force-export true --output "$out/$name" \
    "$out/$name.nsys-rep" >>"$out/$name.log" 2>&1 || status=1
  rm -f "$out/$name.nsys-rep" "$out/$name.sqlite"
  head -n 15 "$out/${name}_cuda_gpu_kern_sum.csv" 2>/dev/null || { echo "no kernel summary (see $out/$name.log)"; status=1; }
}
profile oft "$bin/bench_gpu_llama_step" --config "$config" --device cuda --dtype bf16 --targets qv --steps 3
profile peft "$python" bench/gpu/peft_llama_step.py --config "$config" --device cuda --dtype bf16 --only oft_qv \
  --steps 3
exit $status
