"""Pins the CPU code paths of the Python peers, so that golden data and comparisons do not depend on the
CPU they run on. Import this module BEFORE torch: torch reads ATEN_CPU_CAPABILITY once, when it starts.

What switches by CPU feature (checked in bitsandbytes 0.50.2, torch 2.15, transformers 5.24, PEFT 0.21.2):
  - bitsandbytes' Linear4bit: on CPUs with AVX512-BF16 its first eval/no-grad forward repacks the 4-bit
    weight for its own bf16 CPU kernel (`_convert_weight_packed_for_cpu`), which crashes for layers with
    fewer output rows than its 32-row block and otherwise computes in bf16. `use_dequantize_path(model)`
    turns that off on every Linear4bit (its `support_avx512bf16_for_cpu` flag), so bitsandbytes dequantizes
    and multiplies in the compute dtype on every CPU, which is what oft does and what the goldens record.
  - bitsandbytes' int8 matmul uses torch._int_mm when torch's CPU capability is AVX512 and an fp32 matmul
    otherwise (exact for these sizes either way); its 4-bit dequantization for blocksizes >= 2048 takes a
    Python path on AVX512 and its native kernel otherwise. ATEN_CPU_CAPABILITY (below) pins torch, and with
    it those choices, to the AVX2 path wherever the CPU has AVX2 (every x86-64 machine of this project's
    kind), and to the portable path elsewhere.
  - torch's own vectorized kernels (used by transformers and PEFT) follow the same capability.
GPTQModel (optional, golden generation and one skipped-when-absent interop check) is used through its torch
kernel, which has no CPU-feature switch; PEFT and transformers' default CPU paths have none beyond torch's.
"""
import os
import sys

if "torch" in sys.modules:
    raise RuntimeError("peer_cpu_path must be imported before torch (torch reads ATEN_CPU_CAPABILITY at start)")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


PINNED_CAPABILITY = "avx2" if "avx2" in _cpu_flags() else "default"
os.environ["ATEN_CPU_CAPABILITY"] = PINNED_CAPABILITY


def use_dequantize_path(model) -> None:
    """Makes every bitsandbytes Linear4bit in `model` (or `model` itself) dequantize and multiply on CPU,
    whatever the CPU supports (see the module docstring)."""
    from bitsandbytes.nn import Linear4bit

    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False
