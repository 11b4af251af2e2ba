#!/usr/bin/env python
"""transformers + the real aqlm package load a checkpoint written by `oft quantize --method aqlm` and compute the
same logits as `oft forward` on it. Exits 77 (skipped) when aqlm or transformers is not installed.

    hf_load_check.py --oft build/bin/oft --model tests/golden/data/models/hf/llama_sharded --work DIR

Two layouts: 1x16 (ig 8), whose QuantizedLinear forward runs aqlm's pure-torch path on CPU, and 2x8 (ig 8), whose
CPU forward would pick aqlm's numba kernel (not installed, and it permutes `codes` in place), so its layers are
called through aqlm's own dequantize_gemm instead (tests/golden/gen_aqlm.py does the same).
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

try:
    import torch
    from aqlm import QuantizedLinear
    from aqlm.inference_kernels.dequantization import dequantize_gemm
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

LAYOUTS = {
    # 2^16 codewords make the code search slow (aqlm_quantizer.h); the checkpoint layout is what is checked here.
    "1x16": {"num_codebooks": 1, "nbits_per_codebook": 16, "in_group_size": 8, "epochs": 0, "beam_size": 1,
             "kmeans_iterations": 2},
    "2x8": {"num_codebooks": 2, "nbits_per_codebook": 8, "in_group_size": 8},
}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--oft", required=True)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--work", required=True, type=Path)
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OFT_PLUGIN_CACHE=str(a.work / "scan-cache.json"))

    def oft(*args):
        run = subprocess.run([a.oft, "--log-level", "warn", *map(str, args)], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"FAIL: oft {' '.join(map(str, args))} exited {run.returncode}:\n{run.stderr}")

    torch.manual_seed(0)
    vocab = json.loads((a.model / "config.json").read_text())["vocab_size"]
    ids = torch.randint(0, vocab, (2, 12))
    save_file({"input_ids": ids, "attention_mask": torch.ones_like(ids)}, str(a.work / "input.safetensors"))
    for name, options in LAYOUTS.items():
        out = a.work / name
        oft("quantize", "--model", a.model, "--method", "aqlm", "--options", json.dumps(options), "--out", out)
        oft("forward", "--model", out, "--input", a.work / "input.safetensors", "--output", a.work / f"{name}.safetensors")
        ours = load_file(str(a.work / f"{name}.safetensors"))["logits"].float()

        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
        layers = [m for m in model.modules() if isinstance(m, QuantizedLinear)]
        if len(layers) != 14:  # 2 blocks x (q, k, v, o, gate, up, down); lm_head stays dense
            sys.exit(f"FAIL: {name}: transformers made {len(layers)} aqlm layers, expected 14")
        for m in layers:
            if m.codebook_size == 256:
                m.forward = lambda x, m=m: dequantize_gemm(x, m.codes, m.codebooks, m.scales, m.bias)
        with torch.no_grad():
            theirs = model(input_ids=ids).logits.float()
        error = ((ours - theirs).abs().max() / theirs.abs().max()).item()
        if not error < 1e-5:  # fp32 model: the same weights, matmul summation order only
            sys.exit(f"FAIL: {name}: oft and transformers+aqlm logits differ by {error:.3e} (relative)")
        print(f"{name}: transformers + aqlm load oft's checkpoint; logits agree within {error:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
