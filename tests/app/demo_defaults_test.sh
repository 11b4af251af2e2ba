#!/usr/bin/env bash
# `oft demo --help` shows every default, and the default task folder is found from any current folder: it
# is absolute, next to the executable (<folder of oft>/../share/oft/review_sentiment), and holds the task;
# a --data folder that does not exist is a clear error.
#   demo_defaults_test.sh OFT WORK_DIR
set -euo pipefail
oft=$(readlink -f "$1") work=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"  # a folder without data/ in it
help=$("$oft" demo --help)
for shown in "--out TEXT=runs/demo" "--steps INT=240" "--block-size INT=32" "--targets TEXT=query,value" \
  "--lr FLOAT=0.005" "--seed UINT=0"; do
  [[ "$help" == *"$shown"* ]] || fail "--help does not show '$shown': $help"
done
data=$(sed -n 's/^ *--data TEXT:DIR=\([^ ]*\).*/\1/p' <<<"$help")
[ -n "$data" ] || fail "--help shows no default for --data: $help"
[ "$data" = "$(cd "$(dirname "$(readlink -f "$oft")")/.." && pwd)/share/oft/review_sentiment" ] ||
  fail "the default --data $data is not <folder of oft>/../share/oft/review_sentiment"
for f in train.jsonl test.jsonl labels.json; do [ -s "$data/$f" ] || fail "$data/$f is missing or empty"; done
if err=$("$oft" demo --model "$work" --data "$work/absent" 2>&1); then fail "a missing --data folder was accepted"; fi
[[ "$err" == *"--data"*"$work/absent"* ]] || fail "the error does not name --data and the folder: $err"
# An oft copied away from its share/ folder says that the default task folder is missing.
mkdir -p "$work/bin" && cp "$oft" "$work/bin/oft"
lib=$(dirname "$(dirname "$oft")")/lib  # liboft_core, which the copy's $ORIGIN/../lib does not reach
if err=$(LD_LIBRARY_PATH="$lib" "$work/bin/oft" demo --model "$work" 2>&1); then fail "a missing task folder was accepted"; fi
[[ "$err" == *"--data '$work/share/oft/review_sentiment' is not a folder"* ]] || fail "missing default task: $err"
echo "oft demo defaults: ok (task $data)"
