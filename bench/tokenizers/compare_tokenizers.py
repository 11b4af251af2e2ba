#!/usr/bin/env python
"""Tokenizes ~10 MB of text with oft (build/bin/bench_tokenizers) and with the Rust `tokenizers`
library, both single-threaded, on the same lines in one run, and prints the time ratio per layout.

    .venv/bin/python bench/tokenizers/compare_tokenizers.py [--megabytes 10]

The tokenizers are the small ones of tests/golden/data/llm_tokenizers (the speed of BPE depends
little on the vocabulary size; the pre-tokenizer regexes and the merge loop dominate). Both sides also
report the token count, which must be equal.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers starts its thread pool
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests/golden/data/llm_tokenizers")
sys.path.insert(0, os.path.join(ROOT, "tests/golden"))
from gen_llm_tokenizers import FRAGMENTS  # noqa: E402


def make_text(megabytes):
    rng = random.Random(0)
    lines, size = [], 0
    words = " ".join(FRAGMENTS).split()
    while size < megabytes * 1e6:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
        lines.append(line)
        size += len(line.encode()) + 1
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=10)
    args = parser.parse_args()
    lines = make_text(args.megabytes)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    try:
        print(f"{sum(len(s.encode()) for s in lines) / 1e6:.1f} MB in {len(lines)} lines, single-threaded")
        for layout in ("gpt2", "llama3", "qwen2", "llama2", "mistral"):
            folder = os.path.join(GOLDEN, layout)
            out = subprocess.run([os.path.join(ROOT, "build/bin/bench_tokenizers"), folder, f.name], check=True,
                                 capture_output=True, text=True).stdout
            oft = json.loads(out)
            rust = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
            start = time.perf_counter()
            # encode_batch_fast: no offsets, the cheapest path of `tokenizers` (oft computes none either).
            encodings = rust.encode_batch_fast(lines, add_special_tokens=False)
            rust_seconds = time.perf_counter() - start
            rust_tokens = sum(len(e.ids) for e in encodings)
            print(f"{layout:8s} oft {oft['seconds']:6.2f} s  tokenizers {rust_seconds:6.2f} s  "
                  f"oft/tokenizers {oft['seconds'] / rust_seconds:5.2f}x  tokens {oft['tokens']} / {rust_tokens}")
    finally:
        os.unlink(f.name)


if __name__ == "__main__":
    main()
