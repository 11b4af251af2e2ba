#!/usr/bin/env bash
# `oft merge` copies the base folder's tokenizer and generation files into its output, so that the merged
# folder works with `oft generate --prompt` directly and generates what the base with the adapter does.
# The base is the tiny LLaMA (vocabulary 64) with GPT-2's test tokenizer, where "!" is id 1.
#   merge_keeps_tokenizer_test.sh OFT GOLDEN_DIR WORK_DIR
set -euo pipefail
oft=$1 golden=$2 work=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/base"
cp "$golden"/models/hf/llama_sharded/* "$work/base/"
cp "$golden"/llm_tokenizers/gpt2/tokenizer.json "$golden"/llm_tokenizers/gpt2/tokenizer_config.json "$work/base/"
echo '{"bos_token_id": 0, "eos_token_id": 2}' >"$work/base/generation_config.json"
echo 'not a model file' >"$work/base/notes.txt"
adapter=$golden/generation/adapters/llama_oft

"$oft" --log-level warn merge --model "$work/base" --adapter "$adapter" --out "$work/merged"
for f in tokenizer.json tokenizer_config.json generation_config.json; do
  cmp "$work/base/$f" "$work/merged/$f" || fail "merge did not copy $f"
done
[ ! -e "$work/merged/notes.txt" ] || fail "merge copied a file that is neither tokenizer nor generation config"
[ -z "$(find "$work" -maxdepth 1 -name '.*oft-tmp*')" ] || fail "merge left a temporary folder"

generate=(--log-level warn generate --prompt "!" --max-new-tokens 6 --greedy --json)
merged=$("$oft" "${generate[@]}" --model "$work/merged")
unmerged=$("$oft" "${generate[@]}" --model "$work/base" --adapter "$adapter")
[ "$merged" = "$unmerged" ] || fail "merged: $merged, base with the adapter: $unmerged"
echo "oft merge keeps the tokenizer: ok ($merged)"
