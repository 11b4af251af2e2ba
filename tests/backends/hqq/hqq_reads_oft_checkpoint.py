#!/usr/bin/env python
"""hqq itself reads what `oft quantize --method hqq` writes: every HQQLinear state dict in the checkpoint loads
through hqq's HQQLinear.load_state_dict, and its dequantized weight approximates the dense model's weight
(relative max error below --max-error; a misread packing, axis or scale gives errors near or above 1).
Exit 77 (skipped) when hqq is not installed (requirements/golden-hqq.txt).

    hqq_reads_oft_checkpoint.py --quantized <oft quantize output> --dense <the dense model folder>
"""
import argparse
import glob
import json
import os
import sys

try:
    import torch
    from hqq.core.quantize import HQQLinear
    from safetensors.torch import load_file
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quantized", required=True)
    parser.add_argument("--dense", required=True)
    parser.add_argument("--max-error", type=float, default=0.2)
    args = parser.parse_args()
    config = json.load(open(os.path.join(args.quantized, "config.json")))["quantization_config"]
    if config.get("quant_method") != "hqq":
        sys.exit(f"FAIL: quantization_config is not hqq's: {config}")
    quantized = load_file(os.path.join(args.quantized, "model.safetensors"))
    dense = {}
    for path in sorted(glob.glob(os.path.join(args.dense, "*.safetensors"))):
        dense.update(load_file(path))
    prefixes = sorted({k[: -len(".W_q")] for k in quantized if k.endswith(".W_q")})
    if not prefixes:
        sys.exit("FAIL: no HQQ layers (no *.W_q tensors) in the checkpoint")
    for prefix in prefixes:
        state = {k[len(prefix) + 1:]: v for k, v in quantized.items() if k.startswith(prefix + ".")}
        layer = HQQLinear(None, quant_config=None, compute_dtype=torch.float32, device="cpu", initialize=False)
        layer.load_state_dict(state)
        w = dense[prefix + ".weight"].float()
        error = ((layer.dequantize().float() - w).abs().max() / w.abs().max()).item()
        print(f"{prefix}: {tuple(w.shape)} relative max error {error:.4f}")
        if not error < args.max_error:
            sys.exit(f"FAIL: {prefix}: hqq's dequantized weight is off by {error:.4f} (limit {args.max_error})")
    print(f"OK: hqq read {len(prefixes)} layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
