"""Pins the CPU code paths of the Python peers, so that golden data and comparisons do not depend on the
CPU they run on. Import this module BEFORE torch: torch reads ATEN_CPU_CAPABILITY once, when it starts.

What switches by CPU feature (checked in bitsandbytes 0.50.2, torch 2.15, transformers 5.24, PEFT 0.21.2):
  - bitsandbytes' Linear4bit: on CPUs with AVX512-BF16 its first eval/no-grad forward repacks the 4-bit
    weight for its own bf16 CPU kernel (`_convert_weight_packed_for_cpu`), which crashes for layers with
    fewer output rows than its 32-row block and otherwise computes in bf16. `use_dequantize_path(model)`
    turns that off on every Linear4bit (its `support_avx512bf16_for_cpu` flag), so bitsandbytes dequantizes
    and multiplies in the compute dtype on every CPU, which is what oft does and what the goldens record.
  - bitsandbytes' native CPU library dequantizes 4-bit weights with AVX512 code on CPUs that have it. On this
    project's AVX512-BF16 machine (AMD EPYC, 2026-12-02) that code disagreed with bitsandbytes' own portable
    implementation (backends/default/ops.py) and with the format: for a 64x64 NF4 weight, blocksize 64, rows 2
    on were wrong (883 of 1024 values; up to 0.0138 against values up to 0.067), while CPUs without AVX512 give
    the portable values, which the goldens record. `use_portable_4bit_dequantization()` registers that portable
    implementation as the CPU kernel (for values; the speed benchmark keeps the native one).
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


_portable_4bit_dequantization = False


def use_portable_4bit_dequantization() -> None:
    """Makes bitsandbytes' CPU 4-bit dequantization (F.dequantize_4bit and the dequantize-then-matmul forward) run
    its own portable implementation, whatever the CPU supports (see the module docstring). Idempotent."""
    global _portable_4bit_dequantization
    if _portable_4bit_dequantization:
        return
    import torch
    from bitsandbytes.backends.default import ops as default_ops
    from bitsandbytes.backends.utils import _get_4bit_code

    # The plain function under bitsandbytes' torch.compile wrapper: the same arithmetic, no compilation.
    compute = getattr(default_ops._dequantize_4bit_compute, "__wrapped__", default_ops._dequantize_4bit_compute)

    def portable(A, absmax, blocksize, quant_type, shape, dtype):
        A = A if A.dtype == torch.uint8 else A.view(torch.uint8)
        return compute(A.reshape(-1), absmax, _get_4bit_code(quant_type, A.device), blocksize, shape, dtype)

    torch.library.register_kernel("bitsandbytes::dequantize_4bit", "cpu", portable)
    _portable_4bit_dequantization = True


def use_dequantize_path(model) -> None:
    """Makes every bitsandbytes Linear4bit in `model` (or `model` itself) dequantize and multiply on CPU,
    whatever the CPU supports (see the module docstring)."""
    from bitsandbytes.nn import Linear4bit

    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False
