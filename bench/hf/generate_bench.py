#!/usr/bin/env python
"""Generation speed on this CPU: `oft generate` with the KV cache, without it (a full re-run per token),
and transformers' generate() (which uses its DynamicCache), on one randomly initialized LLaMA model
that this script saves (no download). A benchmark, not a test: one run each, greedy, EOS off, so all
three produce exactly --new-tokens tokens; also says whether oft's greedy ids equal transformers'.

    .venv/bin/python bench/hf/generate_bench.py [--oft build/bin/oft] [--new-tokens 128] [--threads 1]

oft's times are its own log line ("generated N tokens ... in T s": prompt + decoding, no model loading);
transformers' are the generate() call. Both run with --threads intra-op threads.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

CONFIG = dict(vocab_size=32000, hidden_size=512, intermediate_size=1376, num_hidden_layers=8, num_attention_heads=8,
              num_key_value_heads=4, max_position_embeddings=2048, eos_token_id=None, bos_token_id=None,
              pad_token_id=None)
PROMPT = list(range(100, 132))  # 32 tokens


def run_oft(oft: str, model_dir: str, new_tokens: int, threads: int, cache: bool) -> tuple[list[int], float]:
    cmd = [oft, "generate", "--model", model_dir, "--prompt-ids", ",".join(map(str, PROMPT)), "--max-new-tokens",
           str(new_tokens), "--greedy", "--json"] + ([] if cache else ["--no-kv-cache"])
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    seconds = float(re.search(r"generated \d+ tokens after a \d+-token prompt in ([0-9.]+) s", done.stderr).group(1))
    return json.loads(done.stdout)["ids"], seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--oft", default="build/bin/oft")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**CONFIG)).eval()
    with tempfile.TemporaryDirectory() as model_dir:
        model.save_pretrained(model_dir)
        os.remove(os.path.join(model_dir, "generation_config.json"))
        ids = torch.tensor([PROMPT])
        with torch.no_grad():
            start = time.perf_counter()
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, pad_token_id=0)
            hf_seconds = time.perf_counter() - start
        hf_ids = out[0, len(PROMPT):].tolist()
        cached_ids, cached = run_oft(args.oft, model_dir, args.new_tokens, args.threads, True)
        full_ids, full = run_oft(args.oft, model_dir, args.new_tokens, args.threads, False)
    n = args.new_tokens
    print(f"model: LLaMA {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, prompt {len(PROMPT)}, "
          f"{n} new tokens, {args.threads} threads; torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"oft, KV cache:       {cached:7.3f} s  {n / cached:7.1f} tokens/s")
    print(f"oft, full re-run:    {full:7.3f} s  {n / full:7.1f} tokens/s")
    print(f"transformers:        {hf_seconds:7.3f} s  {n / hf_seconds:7.1f} tokens/s")
    print(f"KV cache vs re-run: {full / cached:.2f}x; oft (cache) vs transformers: {hf_seconds / cached:.2f}x")
    print(f"greedy ids equal transformers': cache {cached_ids == hf_ids}, re-run {full_ids == hf_ids}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
