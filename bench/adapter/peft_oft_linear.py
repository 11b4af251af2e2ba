#!/usr/bin/env python
"""Peer benchmark: Hugging Face PEFT OFT on a single nn.Linear, CPU, fp32.

Usage (from the repository root):

    .venv/bin/python bench/adapter/peft_oft_linear.py [--threads 2] [--shapes 2048x4096x32,512x1024x16]
                                              [--budget-s 3.0] [--min-reps 3] [--max-reps 1000] [--warmup 1]

For every shape (tokens T, features F = in = out, block b):

  base layer   nn.Linear(F, F, bias=True), torch.manual_seed(0), fp32, CPU.
  OFT layer    peft.get_peft_model(Wrap(linear), OFTConfig(target_modules=["layer"], r=0, oft_block_size=b,
               init_weights=False))  -- every other option at PEFT's default: use_cayley_neumann=True,
               num_cayley_neumann_terms=5, coft=False, block_share=False, module_dropout=0.0.  The OFT layer is
               timed by calling the injected peft.tuners.oft.Linear directly (no PeftModel wrapper overhead).
               Its base weight/bias are frozen (requires_grad=False, PEFT's default); only the adapter weight
               oft_R.default.weight (shape (F/b, b(b-1)/2)) is trainable.
  input        x = randn(T, F) fp32.

What is timed (wall clock, time.perf_counter, one call = one sample):

  bare_fwd_s      bare nn.Linear, .eval(), under torch.no_grad():  y = linear(x)
  oft_fwd_s       OFT Linear, .eval(), under torch.no_grad():      y = oft(x)   (unmerged: Cayley-Neumann of the
                  adapter + block-diagonal rotation of x + base GEMM, every call)
  bare_fwdbwd_s   bare nn.Linear with weight AND bias frozen (requires_grad=False), x.requires_grad=True:
                  y = linear(x); y.sum().backward()   -> forward GEMM + input-gradient GEMM (dX = dY @ W)
  oft_fwdbwd_s    OFT Linear in .train() mode (dropout is 0, so same math as eval), base frozen, adapter trainable,
                  x.requires_grad=True: y = oft(x); y.sum().backward()  -> Cayley step, rotation, forward GEMM,
                  input-gradient GEMM through the base layer, then gradients w.r.t. the rotated input's source x and
                  w.r.t. the adapter weight (through the rotation and the Cayley-Neumann series).
                  x.grad and the adapter .grad are reset to None before every sample (no accumulation).

Each measurement: `--warmup` untimed calls, then samples until at least `--min-reps` samples were taken AND
`--budget-s` seconds were spent (or `--max-reps` is reached); the reported value is the median in seconds.

Output: one JSON object on stdout
  {"peer": "peft", "versions": {...}, "threads": N, "timing": {...},
   "results": [{"tokens","features","block","bare_fwd_s","oft_fwd_s","bare_fwdbwd_s","oft_fwdbwd_s"}, ...]}
"host" records os.cpu_count() and the 1-minute load average before/after: with --threads N and other
processes busy on the same cores, OpenMP threads get preempted and small ops slow down by orders of
magnitude, so only trust runs whose load average stayed well below cpu_count - N.  Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import torch
import torch.nn as nn

import peft
from peft import OFTConfig, get_peft_model


class Wrap(nn.Module):
    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def parse_shapes(s: str) -> list[tuple[int, int, int]]:
    out = []
    for item in s.split(","):
        item = item.strip()
        if not item:
            continue
        t, f, b = (int(v) for v in item.lower().split("x"))
        out.append((t, f, b))
    return out


def measure(fn, warmup: int, min_reps: int, max_reps: int, budget_s: float) -> tuple[float, int]:
    for _ in range(warmup):
        fn()
    samples = []
    start = time.perf_counter()
    while len(samples) < max_reps:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        if len(samples) >= min_reps and time.perf_counter() - start >= budget_s:
            break
    return statistics.median(samples), len(samples)


def bench_shape(tokens: int, features: int, block: int, a) -> dict:
    torch.manual_seed(0)
    bare = nn.Linear(features, features, bias=True)
    x = torch.randn(tokens, features)

    # --- bare forward (eval, no_grad)
    bare.eval()

    def bare_fwd():
        with torch.no_grad():
            bare(x)

    # --- bare forward+backward: weight/bias frozen, input requires grad -> dX GEMM
    bare_t = nn.Linear(features, features, bias=True)
    with torch.no_grad():
        bare_t.weight.copy_(bare.weight)
        bare_t.bias.copy_(bare.bias)
    bare_t.requires_grad_(False)
    bare_t.train()
    xg = x.clone().requires_grad_(True)

    def bare_fwdbwd():
        xg.grad = None
        bare_t(xg).sum().backward()

    # --- OFT
    base = nn.Linear(features, features, bias=True)
    with torch.no_grad():
        base.weight.copy_(bare.weight)
        base.bias.copy_(bare.bias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = get_peft_model(
            Wrap(base), OFTConfig(target_modules=["layer"], r=0, oft_block_size=block, init_weights=False)
        )
    oft = pm.base_model.model.layer
    adapter = oft.oft_R["default"].weight
    assert adapter.requires_grad and not oft.get_base_layer().weight.requires_grad
    resolved_block = int(oft.oft_block_size["default"])

    def oft_fwd():
        with torch.no_grad():
            oft(x)

    xo = x.clone().requires_grad_(True)

    def oft_fwdbwd():
        xo.grad = None
        adapter.grad = None
        oft(xo).sum().backward()

    res = {"tokens": tokens, "features": features, "block": block}
    reps = {}
    kw = dict(warmup=a.warmup, min_reps=a.min_reps, max_reps=a.max_reps, budget_s=a.budget_s)
    res["bare_fwd_s"], reps["bare_fwd"] = measure(bare_fwd, **kw)
    pm.eval()
    res["oft_fwd_s"], reps["oft_fwd"] = measure(oft_fwd, **kw)
    res["bare_fwdbwd_s"], reps["bare_fwdbwd"] = measure(bare_fwdbwd, **kw)
    pm.train()
    res["oft_fwdbwd_s"], reps["oft_fwdbwd"] = measure(oft_fwdbwd, **kw)
    print(
        f"[peft_oft_linear] T={tokens} F={features} b={block} (resolved b={resolved_block}) reps={reps} "
        + " ".join(f"{k}={v:.4g}" for k, v in res.items() if k.endswith("_s")),
        file=sys.stderr,
    )
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description="PEFT OFT Linear CPU benchmark (peer for the C++ port)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", default="2048x4096x32,512x1024x16", help="comma list of TOKENSxFEATURESxBLOCK")
    ap.add_argument("--budget-s", type=float, default=3.0, help="time box per measurement (seconds)")
    ap.add_argument("--min-reps", type=int, default=3)
    ap.add_argument("--max-reps", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    load_start = os.getloadavg()
    results = [bench_shape(t, f, b, a) for (t, f, b) in parse_shapes(a.shapes)]
    out = {
        "peer": "peft",
        "versions": {
            "torch": torch.__version__,
            "peft": peft.__version__,
            "python": platform.python_version(),
        },
        "threads": torch.get_num_threads(),
        "timing": {
            "statistic": "median",
            "clock": "time.perf_counter",
            "warmup": a.warmup,
            "min_reps": a.min_reps,
            "max_reps": a.max_reps,
            "budget_s": a.budget_s,
            "device": "cpu",
            "dtype": "float32",
        },
        "host": {
            "cpu_count": os.cpu_count(),
            "loadavg_1m_start": round(load_start[0], 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2),
        },
        "results": results,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
