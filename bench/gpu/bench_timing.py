"""Timing and reporting shared by the Python peers in bench/gpu/ (the same rules as gpu_bench_common.h):
CUDA events around each call on CUDA (torch.cuda.Event, the GPU's time), the wall clock on the CPU;
warm-up calls first; the median; one {"name", "value", "unit", "samples"} dict per measurement."""

from __future__ import annotations

import ctypes
import statistics
import time

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def time_once(fn, device: torch.device) -> float:
    if device.type == "cuda":
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        end.synchronize()
        return begin.elapsed_time(end)
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def measure_interleaved(fns, device: torch.device, warmup: int = 3, min_samples: int = 10, budget_s: float = 1.0,
                        max_samples: int = 200) -> list[tuple[float, int]]:
    """Each of fns timed in turns (a, b, a, b, ...) until each has min_samples and len(fns) * budget_s passed, so
    that the two sides of a ratio see the same GPU clocks (gpu_bench_common.h's measure_interleaved)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    samples: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(samples[0]) < max_samples:
        for fn, s in zip(fns, samples):
            s.append(time_once(fn, device))
        if len(samples[0]) >= min_samples and time.perf_counter() - start >= budget_s * len(fns):
            break
    return [(statistics.median(s), len(s)) for s in samples]


def measure(fn, device: torch.device, **kw) -> tuple[float, int]:
    return measure_interleaved([fn], device, **kw)[0]


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def heap_in_use_gib() -> float:
    """Bytes of the C heap in use (glibc's mallinfo2), as gpu_bench_common.h's heap_in_use_gib: torch's CPU
    allocator takes tensors from malloc without caching them."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    info = libc.mallinfo2()
    return (info.uordblks + info.hblkhd) / 2**30


def measurement(name: str, value: float, unit: str, samples: int = 0) -> dict:
    m = {"name": name, "value": value, "unit": unit}
    if samples:
        m["samples"] = samples
    return m


def versions() -> dict:
    out = {"torch": torch.__version__, "cuda": torch.version.cuda}
    for name in ("peft", "transformers"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = None
        except Exception as e:  # noqa: BLE001 -- installed but broken (a version clash): say so, keep measuring
            out[name] = f"import failed: {type(e).__name__}: {e}"[:300]
    return out
