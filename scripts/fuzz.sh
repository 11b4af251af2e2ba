#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ and of each plugins/<name>/fuzz/ (clang-14, AddressSanitizer +
# UndefinedBehaviorSanitizer, into build/fuzz) and runs each on its committed seed corpus, the folder named
# after it: fuzz/corpus/<target>/ or plugins/<name>/fuzz/corpus/<target>/ (one target per folder).
#   --seconds N  fuzz each target for N seconds on a working copy of its corpus (default 60); crashing
#                inputs go to build/fuzz/work/<target>/findings/.
#   --smoke      for CI: the committed corpus plus a fixed number of runs from a fixed seed, in a fresh
#                folder: no time limit, no earlier run's corpus, so a new random finding cannot flake CI.
# The exit status is 1 if any target found a crash. One line per target.
# usage: scripts/fuzz.sh [--seconds N | --smoke] [target ...]     (default: every target)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
seconds=60
smoke=0
smoke_runs=4000
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done

declare -A corpus_of
for dir in "$repo"/fuzz/corpus/*/ "$repo"/plugins/*/fuzz/corpus/*/; do
  [ -d "$dir" ] && corpus_of[$(basename "$dir")]=${dir%/}
done
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(printf '%s\n' "${!corpus_of[@]}" | sort)
fi
for t in "${targets[@]}"; do
  [ -n "${corpus_of[$t]:-}" ] || { echo "[fuzz] no seed corpus folder for target '$t'" >&2; exit 2; }
done

build="$repo/build/fuzz"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$repo/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "${launcher[@]}" >/dev/null
cmake --build "$build" --target "${targets[@]}"

# LibTorch and spdlog keep allocations for the life of the process: leak reports would be theirs.
export ASAN_OPTIONS=detect_leaks=0:${ASAN_OPTIONS:-}
export UBSAN_OPTIONS=print_stacktrace=1:${UBSAN_OPTIONS:-}
failed=()
for t in "${targets[@]}"; do
  work="$build/work/$t"
  # The targets' scratch files (temp_directory_path) stay in their folder, not in /tmp: a run ends by exit
  # or by a crash, neither of which cleans up.
  rm -rf "$work/tmp"
  mkdir -p "$work/corpus" "$work/findings" "$work/tmp"
  if ((smoke)); then
    rm -rf "$work/smoke" && mkdir -p "$work/smoke"
    run=("$build/$t" -seed=1 -runs="$smoke_runs" -reload=0 "$work/smoke")  # no timed corpus reloads
  else
    run=("$build/$t" -max_total_time="$seconds" "$work/corpus")
  fi
  start=$SECONDS
  if TMPDIR="$work/tmp" "${run[@]}" "${corpus_of[$t]}" -print_final_stats=1 -artifact_prefix="$work/findings/" >"$work/log" 2>&1; then
    status=ok
  else
    status="FOUND A CRASH (input in $work/findings/, log $work/log)"
    failed+=("$t")
  fi
  stats=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$work/log" | tail -1 || true)
  echo "[fuzz] $t: $status in $((SECONDS - start)) s; ${stats:-no stats}"
done
if ((${#failed[@]})); then
  echo "[fuzz] crashes in: ${failed[*]}" >&2
  exit 1
fi
