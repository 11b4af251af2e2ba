"""How far bitsandbytes' AVX512-BF16 CPU path for 4-bit layers would be from the fp32 dequantize path
that oft (and bitsandbytes on other CPUs) takes. That kernel only runs on CPUs with AVX512-BF16, so this
emulates its rounding instead: input and absmax in bf16, output written as bf16.

    .venv/bin/python bench/backends/bnb/bf16_path_gap.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "golden"))
import peer_cpu_path  # noqa: E402,F401  (before torch)
import torch  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402

BLOCK = 64
torch.manual_seed(0)
for n in (256, 1024, 4096):
    weight = torch.nn.Linear(n, n, bias=False).weight.data
    packed, state = F.quantize_4bit(weight, blocksize=BLOCK, quant_type="nf4")
    dequantized = F.dequantize_4bit(packed, state)
    absmax = state.absmax.repeat_interleave(BLOCK)[: n * n].view(n, n)
    codes = dequantized / absmax
    absmax_bf16 = state.absmax.to(torch.bfloat16).float().repeat_interleave(BLOCK)[: n * n].view(n, n)
    x = torch.randn(16, n)
    fp32_path = x @ dequantized.t()
    bf16_path = (x.to(torch.bfloat16).float() @ (codes * absmax_bf16).t()).to(torch.bfloat16).float()
    gap = ((bf16_path - fp32_path).abs().max() / fp32_path.abs().max()).item()
    print(f"nf4 {n}x{n} blocksize {BLOCK}, 16 tokens: max |bf16 path - fp32 path| / max |fp32 path| = {gap:.2e}")
