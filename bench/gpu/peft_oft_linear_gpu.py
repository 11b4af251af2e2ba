#!/usr/bin/env python3
"""PEFT's OFT Linear on one device, the peer of bench_gpu_oft_linear (same definitions, same JSON shape).

    python3 bench/gpu/peft_oft_linear_gpu.py [--device cuda] [--dtype bf16] [--tokens 8192,2048]
                                              [--features 4096] [--block 32] [--compile | --compile-only] [--small]

Base: nn.Linear(F, F, bias=True) in --dtype on --device, frozen. OFT: peft.get_peft_model with
OFTConfig(target_modules=["layer"], r=0, oft_block_size=block, init_weights=False), PEFT's defaults
otherwise (Cayley-Neumann, 5 terms); the injected layer is called directly. Timed per token count:
  bare_fwd / peft_fwd        eval, torch.no_grad(): y = layer(x)
  bare_fwdbwd / peft_fwdbwd  x.requires_grad, y = layer(x); y.backward(g); x.grad (and the adapter's grad) reset
  peft_compile_fwdbwd        the same through torch.compile(layer) (--compile, or --compile-only for just this one
                             with its bare_fwdbwd; an error in the JSON when compiling fails)
Each: warm-up calls, then CUDA-event times (wall clock on cpu) until --budget-s passed and at least
--min-samples were taken; the median in ms. The bare and PEFT sides of each ratio are timed in turns (a, b, a,
b, ...), so that both see the same GPU clocks. Prints one JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import torch
import torch.nn as nn

from bench_timing import DTYPES, measure_interleaved, measurement, versions


class Wrap(nn.Module):
    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def bench_tokens(tokens: int, a, device: torch.device, dtype: torch.dtype, out: dict) -> None:
    import peft

    torch.manual_seed(0)
    features = a.features
    base = nn.Linear(features, features, bias=True).to(device=device, dtype=dtype).requires_grad_(False)
    x = torch.randn(tokens, features, device=device, dtype=dtype)
    g = torch.randn(tokens, features, device=device, dtype=dtype)
    prefix = f"oft_linear.t{tokens}."
    kw = dict(device=device, warmup=a.warmup, min_samples=a.min_samples, budget_s=a.budget_s)

    def record(pairs):
        """pairs: [(name, fn), ...], timed in turns (measure_interleaved)."""
        timings = measure_interleaved([fn for _, fn in pairs], **kw)
        for (name, _), (median_ms, samples) in zip(pairs, timings):
            out["measurements"].append(measurement(prefix + name, median_ms, "ms", samples))
            print(f"[peft_oft_linear_gpu] T={tokens} {name} {median_ms:.4f} ms ({samples} samples)", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = peft.get_peft_model(
            Wrap(base), peft.OFTConfig(target_modules=["layer"], r=0, oft_block_size=a.block, init_weights=False)
        )
    layer = model.base_model.model.layer  # base stays callable on its own: the bare layer
    adapter = layer.oft_R["default"].weight
    out["adapter_dtype"] = str(adapter.dtype).replace("torch.", "")

    model.eval()

    def bare_fwd():
        with torch.no_grad():
            base(x)

    def peft_fwd():
        with torch.no_grad():
            layer(x)

    if not a.compile_only:
        record([("bare_fwd", bare_fwd), ("peft_fwd", peft_fwd)])
    model.train()
    xb = x.detach().clone().requires_grad_(True)
    xo = x.detach().clone().requires_grad_(True)

    def bare_fwdbwd():
        xb.grad = None
        base(xb).backward(g)

    def fwdbwd(fn):
        def step():
            xo.grad = None
            adapter.grad = None
            fn(xo).backward(g)

        return step

    if not a.compile_only:
        record([("bare_fwdbwd", bare_fwdbwd), ("peft_fwdbwd", fwdbwd(layer))])
    if a.compile or a.compile_only:
        try:
            compiled = fwdbwd(torch.compile(layer))
            if a.compile_only:
                record([("bare_fwdbwd", bare_fwdbwd), ("peft_compile_fwdbwd", compiled)])
            else:
                record([("peft_compile_fwdbwd", compiled)])
        except Exception as e:  # noqa: BLE001 -- compiling is optional; the error goes into the JSON
            out["errors"].append(f"tokens {tokens}: torch.compile: {type(e).__name__}: {str(e)[:300]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    ap.add_argument("--tokens", default=None, help="comma list (default 8192,2048; --small: 64)")
    ap.add_argument("--features", type=int, default=None)
    ap.add_argument("--block", type=int, default=None)
    ap.add_argument("--budget-s", type=float, default=None)
    ap.add_argument("--min-samples", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also time PEFT's layer under torch.compile")
    ap.add_argument("--compile-only", action="store_true", help="time only bare_fwdbwd and peft_compile_fwdbwd")
    ap.add_argument("--small", action="store_true", help="64 tokens x 256 features x block 16 (CPU smoke runs)")
    a = ap.parse_args()
    small = a.small
    a.tokens = [int(t) for t in (a.tokens or ("64" if small else "8192,2048")).split(",")]
    a.features = a.features or (256 if small else 4096)
    a.block = a.block or (16 if small else 32)
    a.budget_s = a.budget_s if a.budget_s is not None else (0.05 if small else 1.0)
    a.min_samples = a.min_samples or (3 if small else 10)
    device = torch.device(a.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", 0)
    out = {
        "bench": "oft_linear",
        "impl": "peft_compile" if a.compile_only else "peft",
        "device": str(device),
        "dtype": a.dtype,
        "versions": versions(),
        "config": {"features": a.features, "block": a.block, "tokens": a.tokens, "bias": True,
                   "timing": "median of CUDA-event times (wall clock on cpu)", "warmup": a.warmup},
        "measurements": [],
        "errors": [],
    }
    for tokens in a.tokens:
        try:
            bench_tokens(tokens, a, device, DTYPES[a.dtype], out)
        except Exception as e:  # noqa: BLE001 -- one size failing (e.g. out of memory) leaves the others
            out["errors"].append(f"tokens {tokens}: {type(e).__name__}: {e}")
        print(json.dumps(out), flush=True)  # a snapshot per size: a run cut short keeps what it measured
    return 0


if __name__ == "__main__":
    sys.exit(main())
