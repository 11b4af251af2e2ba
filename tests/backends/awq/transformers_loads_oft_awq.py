#!/usr/bin/env python
"""An AWQ checkpoint written by `oft quantize --method awq` loads in transformers 5.24 (through GPTQModel,
as transformers loads every AWQ model) and gives oft's logits.

    .venv/bin/python tests/backends/awq/transformers_loads_oft_awq.py --oft build/bin/oft --model DENSE --work DIR

For each setting (gemm at 2/3/4/8 bits, group size 32, with and without zero points) it quantizes the dense LLaMA
with calibration ids, runs `oft forward` on the quantized folder, loads the same folder with
AutoModelForCausalLM on CPU and compares the logits: relative max error below 2e-3 (GPTQModel's AWQ kernels
multiply in fp16, oft in fp32 from the same fp16 weights). Exits 77 (skipped) when gptqmodel is not
installed (requirements/golden-awq.txt). The gemv layout is not checked: GPTQModel's gemv kernel is
CUDA-only, so transformers finds no kernel for it on CPU ("No valid quant linear").
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

try:
    import gptqmodel  # noqa: F401  (transformers loads AWQ only through it)
except ImportError:
    print("SKIP: gptqmodel is not installed")
    sys.exit(77)

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

SETTINGS = {
    "b4_g32_zp": '{"bits": 4, "group_size": 32}',
    "b3_g32_sym": '{"bits": 3, "group_size": 32, "zero_point": false}',
    "b2_g32_zp": '{"bits": 2, "group_size": 32}',
    "b8_g32_zp": '{"bits": 8, "group_size": 32}',
}
TOLERANCE = 2e-3


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--oft", required=True)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--work", required=True, type=Path)
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OFT_PLUGIN_CACHE=str(a.work / "scan-cache.json"))

    def oft(*args) -> None:
        run = subprocess.run([a.oft, "--log-level", "error", *map(str, args)], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"FAIL: oft {' '.join(map(str, args))} exited {run.returncode}:\n{run.stderr}")

    torch.manual_seed(0)
    ids = torch.randint(0, 64, (2, 16))
    save_file({"input_ids": ids, "attention_mask": torch.ones_like(ids)}, a.work / "input.safetensors")
    save_file({"input_ids": torch.randint(0, 64, (8, 32))}, a.work / "calibration.safetensors")
    torch.set_num_threads(1)
    failed = False
    for name, options in SETTINGS.items():
        out = a.work / name
        oft("quantize", "--model", a.model, "--method", "awq", "--options", options, "--out", out / "quantized",
            "--calibration", a.work / "calibration.safetensors")
        oft("forward", "--model", out / "quantized", "--input", a.work / "input.safetensors", "--output",
            out / "logits.safetensors")
        expected = load_file(out / "logits.safetensors")["logits"]
        model = AutoModelForCausalLM.from_pretrained(out / "quantized", device_map="cpu").eval()
        kinds = sorted({type(m).__name__ for m in model.modules() if hasattr(m, "qweight")})
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float()
        error = ((logits - expected).abs().max() / expected.abs().max()).item()
        ok = error < TOLERANCE
        failed |= not ok
        print(f"{'ok' if ok else 'FAIL'}: {name}: transformers ({', '.join(kinds)}) vs oft logits: "
              f"relative error {error:.2e} (< {TOLERANCE})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
