#!/usr/bin/env bash
# `oft tokenize` on the golden tokenizers (tests/golden/data/llm_tokenizers): the ids transformers'
# PreTrainedTokenizerFast / sentencepiece give (recorded by hand from gen_llm_tokenizers.py's output),
# plain and --json (and --help naming its keys in that order), and a clear error for a folder without a
# tokenizer.
#   tokenize_command_test.sh OFT GOLDEN_DIR
set -euo pipefail
oft=$1
golden=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

got=$("$oft" tokenize --model "$golden/llama3" "Hello world" "naïve 😍")
[ "$got" = $'0 647 648\n0 965 580 250 239' ] || fail "llama3 ids: $got"
got=$("$oft" tokenize --json --no-special-tokens --model "$golden/llama2" "Hello world")
[ "$got" = '{"ids":[686,420,301,687,298,290],"text":"Hello world"}' ] || fail "llama2 --json: $got"
# --help names the keys in the order --json prints them.
help=$("$oft" tokenize --help)
[[ "$help" == *'{"ids", "text"}'* ]] || fail "tokenize --help does not list the keys as --json prints them: $help"
got=$("$oft" tokenize --model "$golden/spm" "Hello world")
[ "$got" = '1 367 434 368 270 372 367 396 288 375 376' ] || fail "sentencepiece ids: $got"
if err=$("$oft" tokenize --model "$golden" "x" 2>&1); then fail "a folder without a tokenizer was accepted"; fi
[[ "$err" == *"has no tokenizer: expected tokenizer.json, tokenizer.model or vocab.txt"* ]] || fail "error: $err"
echo "oft tokenize: ok"
