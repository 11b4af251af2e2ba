#!/usr/bin/env bash
# Data-parallel `oft train` throughput on the MiniLM task (data/review_sentiment, batch 16, OFT on
# query/value with block size 32): steps/s for 1 and 2 ranks (--nproc-per-node) with one thread each.
# Each rank count runs twice, with SHORT and LONG steps, and steps/s = (LONG - SHORT) / time difference,
# so model loading, tokenizing and the final evaluation cancel out. Not a test.
# Usage: bench/train/distributed_bench.sh [SHORT_STEPS] [LONG_STEPS] [RANKS...]   (defaults: 10 40 1 2)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
short=${1:-10}
long=${2:-40}
ranks=("${@:3}")
[ ${#ranks[@]} -gt 0 ] || ranks=(1 2)
oft="$repo/build/bin/oft"
[ -x "$oft" ] || { echo "build oft first (cmake --build build --target oft)" >&2; exit 1; }
minilm=$(bash "$repo/scripts/fetch_minilm.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

write_config() {  # steps output_dir
  cat > "$work/train-$1.json" <<JSON
{"model": "$minilm", "task": "sequence_classification",
 "data": {"train": "$repo/data/review_sentiment/train.jsonl", "eval": "$repo/data/review_sentiment/test.jsonl",
          "labels": ["negative", "positive"], "max_length": 64},
 "oft": {"target_modules": ["query", "value"], "oft_block_size": 32, "r": 0},
 "optimizer": {"lr": 5e-3}, "batch_size": 16, "steps": $1, "seed": 0, "output_dir": "$2", "resume": false}
JSON
}

seconds() {  # steps nproc
  write_config "$1" "$work/out-$1-$2"
  local start end
  start=$(date +%s.%N)
  OMP_NUM_THREADS=1 "$oft" --log-level warn train --config "$work/train-$1.json" --nproc-per-node "$2" > "$work/log" 2>&1 ||
    { cat "$work/log" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

printf '%-6s %12s %12s %10s\n' ranks "t($short) s" "t($long) s" steps/s
for n in "${ranks[@]}"; do
  a=$(seconds "$short" "$n")
  b=$(seconds "$long" "$n")
  printf '%-6s %12.2f %12.2f %10.2f\n' "$n" "$a" "$b" "$(echo "($long - $short) / ($b - $a)" | bc -l)"
done
