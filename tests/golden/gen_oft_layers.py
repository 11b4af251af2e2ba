#!/usr/bin/env python
"""Generate golden reference data for the C++/LibTorch OFT port from the REAL Hugging Face PEFT library.

Run from the repository root:

    .venv/bin/python tests/golden/gen_oft_layers.py            # writes tests/golden/data/*.safetensors
    .venv/bin/python tests/golden/gen_oft_layers.py --out DIR  # somewhere else

Outputs (safetensors, tensor names "<case>/<field>", all contiguous, fp32 unless stated):

  oft_linear.safetensors, oft_conv2d.safetensors, oft_embedding.safetensors
  oft_dropout.safetensors   (PEFT's MultiplicativeDropoutLayer)

Each layer case is built the way a user would: a tiny nn.Module whose only child is named ``layer``
(the base nn.Linear / nn.Conv2d / nn.Embedding), ``torch.manual_seed(seed)`` before the base layer is
constructed, then ``peft.get_peft_model(model, OFTConfig(target_modules=["layer"], init_weights=False, ...))``.
So PEFT itself injects the adapter, initialises it with Normal(0, 0.1) (drawn from the global CPU RNG right after
the base layer's own init) and applies its default fp32 autocast of the adapter.  The input and grad_output are
drawn next from the same global RNG stream (their values are stored, so only the stored values matter).

Fields per case (see the "field_docs" metadata entry for the same text):
  base_weight, base_bias   base layer parameters as constructed (dtype of the base layer)
  adapter_weight           oft_R.default.weight (embedding: oft_embedding_R.default.weight) right after
                           get_peft_model, before any forward  (fp32)
  adapter_weight_projected the same parameter after the forward (COFT projects it in place; == adapter_weight
                           when coft is off)
  rotation                 dense d x d matrix from the rotation module's get_weight() (after projection)
  rotation_blocks          r_p x b x b, OFTRotationModule._cayley_batch(projected weight, b, neumann, N)
  input                    Linear (3, in) float; Conv2d (2, C, H, W); Embedding int64 ids (2, 5)
  output                   Linear/Embedding: PEFT's unmerged forward, train mode, dropout 0.
                           Conv2d: PEFT's MERGED conv (layer.merge(), then the base conv), because PEFT's
                           unmerged conv forward is wrong for kernels > 1 (B1 in docs/peft-differences.md).
  grad_output              fixed random tensor shaped like output (dtype of output)
  adapter_grad             d/d adapter_weight of (output * grad_output).sum()  (computed as
                           autograd.grad(output, weight, grad_output)); Linear/Embedding through PEFT's forward;
                           Conv2d through F.conv2d(x, (W.view(out,-1) @ R.T).view_as(W), bias, stride, padding)
                           with R = PEFT's rotation (get_weight(); see note on COFT below).
  merged_weight            base weight after layer.merge(safe_merge=False)
  unmerged_weight          base weight after layer.unmerge() following that merge
  peft_unmerged_output     (Conv2d only, extra) PEFT's own unmerged conv forward (the B1 unfold/fold path),
                           for a port that wants to reproduce it bit-for-bit.  NOT the reference semantics.

COFT + Conv2d gradient note: in PEFT 0.21.2, OFTRotationModule.get_weight() computes the projection under
torch.no_grad() and then runs the Cayley step on that *new* tensor, so with coft=True the matrix it returns has
no autograd path to the parameter.  For coft cases the differentiable R is therefore rebuilt from PEFT's own
pieces, ``_block_diagonal(_cayley_batch(module.weight, ...), rank)``, right after get_weight() projected the
parameter in place -- the same "straight-through" gradient PEFT's forward() gives for Linear/Embedding (the
projection is not differentiated, the Cayley step is evaluated at the projected weight).

Dropout file: for p in {0.25, 0.5}: input = 8 random 4x4 rotations (QR of randn, seed 4321), then
torch.manual_seed(1234) and MultiplicativeDropoutLayer(p).train()(input).  The layer draws exactly one
torch.randperm(D) from the default CPU generator (see module docstring of the dropout section below).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

import peft
import safetensors
from peft import OFTConfig, get_peft_model
from peft.tuners.oft.layer import MultiplicativeDropoutLayer
from safetensors.torch import save_file

GENERATOR = "tests/golden/gen_oft_layers.py"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

FIELD_DOCS = {
    "base_weight": "base layer weight as constructed (base dtype)",
    "base_bias": "base layer bias (base dtype), only if bias",
    "adapter_weight": "adapter weight (r_p, b(b-1)/2) right after get_peft_model, before any forward (fp32)",
    "adapter_weight_projected": "adapter weight after the forward (COFT in-place projection); == adapter_weight if coft off",
    "rotation": "dense d x d rotation from OFTRotationModule.get_weight() after projection (fp32)",
    "rotation_blocks": "(r_p, b, b) from OFTRotationModule._cayley_batch(projected weight) (fp32)",
    "input": "layer input (Linear: (3,in) base dtype; Conv2d: (2,C,H,W); Embedding: int64 ids (2,5))",
    "output": "Linear/Embedding: PEFT unmerged forward (train, dropout 0). Conv2d: PEFT merged conv (merge(), base conv)",
    "grad_output": "fixed random tensor like output (same dtype)",
    "adapter_grad": "gradient of (output*grad_output).sum() w.r.t. the adapter weight (fp32); Conv2d via "
    "F.conv2d(x, (W.view(out,-1) @ R.T).view_as(W), bias, stride, padding) with PEFT's R",
    "merged_weight": "base weight after layer.merge(safe_merge=False) (base dtype)",
    "unmerged_weight": "base weight after layer.unmerge() following that merge (base dtype)",
    "peft_unmerged_output": "Conv2d only: PEFT's own (B1, unfold/fold) unmerged forward; informational, not the reference",
}


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------
class Wrap(nn.Module):
    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def adjust(d: int, p: int) -> int:
    """Independent re-implementation of OFTLayer.adjust_oft_parameters (used only to cross-check PEFT)."""
    if p >= d:
        return d
    hi = p
    while hi <= d and d % hi != 0:
        hi += 1
    lo = p
    while lo > 1 and d % lo != 0:
        lo -= 1
    return lo if (p - lo) <= (hi - p) else hi


def expected_resolution(d: int, r: int, b: int) -> tuple[int, int, bool]:
    """(r, b, adjusted?) as PEFT's update_layer should resolve them."""
    if r == 0 and b != 0:
        adj = d % b != 0 or b > d
        if adj:
            b = adjust(d, b)
        return d // b, b, adj
    adj = d % r != 0 or r > d
    if adj:
        r = adjust(d, r)
    return r, d // r, adj


def c(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().contiguous()


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach().double() - b.detach().double()).abs().max().item() if a.numel() else 0.0


def combo_name(neumann: bool, coft: bool, share: bool, size_key: str) -> str:
    return f"neumann{int(neumann)}_coft{int(coft)}_share{int(share)}_{size_key}"


def sixteen(r_val: int, b_val: int) -> list[dict]:
    out = []
    for neumann in (True, False):
        for coft in (False, True):
            for share in (False, True):
                for size_key, r, b in ((f"r{r_val}", r_val, 0), (f"bs{b_val}", 0, b_val)):
                    out.append(
                        dict(
                            name=combo_name(neumann, coft, share, size_key),
                            config=dict(
                                r=r,
                                oft_block_size=b,
                                coft=coft,
                                eps=0.1 if coft else 6e-5,
                                block_share=share,
                                use_cayley_neumann=neumann,
                                num_cayley_neumann_terms=5,
                                module_dropout=0.0,
                            ),
                        )
                    )
    return out


def default_cfg(**kw) -> dict:
    cfg = dict(
        r=0,
        oft_block_size=0,
        coft=False,
        eps=6e-5,
        block_share=False,
        use_cayley_neumann=True,
        num_cayley_neumann_terms=5,
        module_dropout=0.0,
    )
    cfg.update(kw)
    return cfg


# ----------------------------------------------------------------------------------------------------------------
# case lists
# ----------------------------------------------------------------------------------------------------------------
def linear_cases() -> list[dict]:
    la = dict(in_features=24, out_features=10, bias=True)
    cases = [dict(layer_args=la, dtype="float32", **c_) for c_ in sixteen(3, 6)]
    cases.append(
        dict(
            name="adjust_in20_bs6",
            layer_args=dict(in_features=20, out_features=10, bias=True),
            dtype="float32",
            config=default_cfg(oft_block_size=6),
        )
    )
    for n in (2, 3, 4, 5, 6, 8):
        cases.append(
            dict(
                name=f"neumann_terms{n}_bs4",
                layer_args=la,
                dtype="float32",
                config=default_cfg(oft_block_size=4, num_cayley_neumann_terms=n),
            )
        )
    for dt, short in (("float16", "fp16"), ("bfloat16", "bf16")):
        cases.append(dict(name=f"dtype_{short}_bs6", layer_args=la, dtype=dt, config=default_cfg(oft_block_size=6)))
    return cases


def conv2d_cases() -> list[dict]:
    la = dict(in_channels=4, out_channels=5, kernel_size=3, stride=1, padding=0, bias=True, input_hw=[7, 7])
    cases = [dict(layer_args=la, dtype="float32", **c_) for c_ in sixteen(4, 6)]
    cases.append(
        dict(
            name="stride2_pad1_r4",
            layer_args=dict(la, stride=2, padding=1),
            dtype="float32",
            config=default_cfg(r=4),
        )
    )
    cases.append(
        dict(
            name="kernel1_in8_bs4",
            layer_args=dict(la, in_channels=8, kernel_size=1),
            dtype="float32",
            config=default_cfg(oft_block_size=4),
        )
    )
    return cases


def embedding_cases() -> list[dict]:
    la = dict(num_embeddings=30, embedding_dim=12)
    return [dict(layer_args=la, dtype="float32", **c_) for c_ in sixteen(3, 4)]


# ----------------------------------------------------------------------------------------------------------------
# building one case
# ----------------------------------------------------------------------------------------------------------------
def make_base(kind: str, la: dict) -> nn.Module:
    if kind == "linear":
        return nn.Linear(la["in_features"], la["out_features"], bias=la["bias"])
    if kind == "conv2d":
        return nn.Conv2d(
            la["in_channels"],
            la["out_channels"],
            kernel_size=la["kernel_size"],
            stride=la["stride"],
            padding=la["padding"],
            bias=la["bias"],
        )
    if kind == "embedding":
        return nn.Embedding(la["num_embeddings"], la["embedding_dim"])
    raise ValueError(kind)


def run_case(kind: str, spec: dict, seed: int) -> tuple[dict, dict[str, torch.Tensor]]:
    name, la, cfg, dtype_name = spec["name"], spec["layer_args"], spec["config"], spec["dtype"]
    dtype = DTYPES[dtype_name]
    p = f"{name}/"
    T: dict[str, torch.Tensor] = {}

    torch.manual_seed(seed)
    base = make_base(kind, la).to(dtype)
    model = Wrap(base)
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        pm = get_peft_model(model, OFTConfig(target_modules=["layer"], init_weights=False, **cfg))
    peft_warnings = [str(w.message) for w in wlist if "oft_block_size" in str(w.message) or "`r`" in str(w.message)]

    layer = pm.base_model.model.layer
    mod = layer.oft_embedding_R["default"] if kind == "embedding" else layer.oft_R["default"]
    W = mod.weight
    assert W.dtype == torch.float32, W.dtype  # PEFT's default adapter autocast
    base_layer = layer.get_base_layer()

    # resolution check: PEFT's dicts vs an independent re-implementation and vs the printed warning
    if kind == "conv2d":
        d = la["in_channels"] * la["kernel_size"] * la["kernel_size"]
    elif kind == "linear":
        d = la["in_features"]
    else:
        d = la["embedding_dim"]
    r_res, b_res = int(layer.r["default"]), int(layer.oft_block_size["default"])
    r_exp, b_exp, adjusted = expected_resolution(d, cfg["r"], cfg["oft_block_size"])
    assert (r_res, b_res) == (r_exp, b_exp), (name, (r_res, b_res), (r_exp, b_exp))
    if adjusted:
        assert len(peft_warnings) == 1, (name, peft_warnings)
        new_val = b_res if cfg["r"] == 0 else r_res
        assert peft_warnings[0].endswith(f"to ({new_val})."), (name, peft_warnings)
    else:
        assert not peft_warnings, (name, peft_warnings)
    r_p = 1 if cfg["block_share"] else r_res
    assert tuple(W.shape) == (r_p, b_res * (b_res - 1) // 2), (name, W.shape)
    assert mod.in_features == d

    T[p + "base_weight"] = c(base_layer.weight)
    if getattr(base_layer, "bias", None) is not None:
        T[p + "base_bias"] = c(base_layer.bias)
    T[p + "adapter_weight"] = c(W)

    pm.train()
    checks: dict[str, float] = {}
    rank = d // b_res

    if kind in ("linear", "embedding"):
        if kind == "linear":
            x = torch.randn(3, la["in_features"]).to(dtype)
        else:
            x = torch.randint(0, la["num_embeddings"], (2, 5), dtype=torch.int64)
        out = layer(x)  # PEFT unmerged forward (projects in place under COFT)
        T[p + "adapter_weight_projected"] = c(W)
        g = torch.randn(out.shape).to(out.dtype)
        (grad,) = torch.autograd.grad(out, W, g)
        with torch.no_grad():
            R = mod.get_weight()
    else:
        H, Wd = la["input_hw"]
        x = torch.randn(2, la["in_channels"], H, Wd).to(dtype)
        if cfg["coft"]:
            with torch.no_grad():
                R0 = mod.get_weight()  # projects the parameter in place; result has no autograd path
            R = mod._block_diagonal(
                mod._cayley_batch(W, mod.block_size, mod.use_cayley_neumann, mod.num_cayley_neumann_terms), rank
            )
            checks["coft_R_rebuild_vs_get_weight"] = maxdiff(R, R0)
            assert checks["coft_R_rebuild_vs_get_weight"] == 0.0
        else:
            R = mod.get_weight()  # differentiable
        T[p + "adapter_weight_projected"] = c(W)
        Wb = base_layer.weight
        Wm = (Wb.view(Wb.shape[0], -1).to(R.dtype) @ R.T).view_as(Wb).to(Wb.dtype)
        out_diff = F.conv2d(x, Wm, base_layer.bias, base_layer.stride, base_layer.padding)
        g = torch.randn(out_diff.shape).to(out_diff.dtype)
        (grad,) = torch.autograd.grad(out_diff, W, g)
        with torch.no_grad():
            T[p + "peft_unmerged_output"] = c(layer(x))

    T[p + "input"] = c(x)
    T[p + "grad_output"] = c(g)
    T[p + "adapter_grad"] = c(grad)
    T[p + "rotation"] = c(R)
    with torch.no_grad():
        blocks = mod._cayley_batch(
            T[p + "adapter_weight_projected"], mod.block_size, mod.use_cayley_neumann, mod.num_cayley_neumann_terms
        )
    T[p + "rotation_blocks"] = c(blocks)
    assert tuple(R.shape) == (d, d) and tuple(blocks.shape) == (r_p, b_res, b_res)
    checks["blockdiag_vs_rotation"] = maxdiff(mod._block_diagonal(blocks, rank), R)

    # merge / unmerge (PEFT's own), output for conv = merged conv
    with torch.no_grad():
        layer.merge(safe_merge=False)
        T[p + "merged_weight"] = c(base_layer.weight)
        merged_out = layer(x)  # merged -> base layer forward with the merged weight
        if kind == "conv2d":
            T[p + "output"] = c(merged_out)
            checks["merged_vs_differentiable_formula"] = maxdiff(merged_out, out_diff)
            checks["peft_unmerged_vs_merged"] = maxdiff(T[p + "peft_unmerged_output"], merged_out)
        else:
            T[p + "output"] = c(out)
            checks["merged_vs_unmerged_output"] = maxdiff(merged_out, out)
        layer.unmerge()
        T[p + "unmerged_weight"] = c(base_layer.weight)
    checks["unmerged_vs_base"] = maxdiff(T[p + "unmerged_weight"], T[p + "base_weight"])
    # get_weight()/merge()/unmerge() re-project under COFT; record how much that moved the parameter
    checks["reprojection_drift"] = maxdiff(W, T[p + "adapter_weight_projected"])
    checks["projection_change"] = maxdiff(T[p + "adapter_weight_projected"], T[p + "adapter_weight"])
    if not cfg["coft"]:
        assert checks["projection_change"] == 0.0

    meta = dict(
        name=name,
        layer=kind,
        config=cfg,
        layer_args=la,
        resolved=dict(r=r_res, block_size=b_res),
        dtype=dtype_name,
        seed=seed,
        peft_warnings=peft_warnings,
        checks=checks,
    )
    return meta, T


def versions() -> dict:
    return {
        "torch": torch.__version__,
        "peft": peft.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


def write(path: str, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    for k, v in tensors.items():
        assert v.is_contiguous(), k
    save_file(tensors, path, metadata=meta)
    os.chmod(path, 0o644)


def gen_layers(kind: str, specs: list[dict], seed0: int, out_dir: str) -> list[dict]:
    all_t: dict[str, torch.Tensor] = {}
    metas = []
    names = set()
    for i, spec in enumerate(specs):
        assert spec["name"] not in names, spec["name"]
        names.add(spec["name"])
        meta, T = run_case(kind, spec, seed0 + i)
        metas.append(meta)
        all_t.update(T)
    md = {
        "generator": GENERATOR,
        "versions": json.dumps(versions()),
        "cases": json.dumps(metas),
        "field_docs": json.dumps(FIELD_DOCS),
    }
    path = os.path.join(out_dir, f"oft_{kind}.safetensors")
    write(path, all_t, md)
    return metas


# ----------------------------------------------------------------------------------------------------------------
# MultiplicativeDropoutLayer
# ----------------------------------------------------------------------------------------------------------------
DROPOUT_DOC = (
    "PEFT MultiplicativeDropoutLayer(p).train()(x), x: (D=8, 4, 4) random rotations. RNG: after "
    "torch.manual_seed(seed) the layer makes exactly ONE random call, torch.randperm(D) on the default CPU "
    "generator (int64). mask = cat(ones(int(p*D)), zeros(D-int(p*D)))[perm] (float32), block i is replaced by "
    "eye(H) iff perm[i] < int(p*D); y = (1-mask)*x + mask*eye. No 1/(1-p) rescale. Stored: <case>/input, "
    "<case>/output, <case>/perm (the randperm the layer drew, re-drawn after re-seeding), <case>/mask (D,)."
)


def gen_dropout(out_dir: str) -> list[dict]:
    D, H, seed = 8, 4, 1234
    T: dict[str, torch.Tensor] = {}
    metas = []
    g = torch.Generator().manual_seed(4321)
    q, _ = torch.linalg.qr(torch.randn(D, H, H, generator=g))
    x = q.contiguous()
    for p in (0.25, 0.5):
        name = f"p{int(p * 100):03d}"
        layer = MultiplicativeDropoutLayer(p=p).train()
        torch.manual_seed(seed)
        y = layer(x)
        torch.manual_seed(seed)
        perm = torch.randperm(D)
        k = int(p * D)
        mask = (perm < k).to(torch.float32)
        # cross-check our description of the RNG sequence against PEFT's output
        expect = torch.where(mask.view(D, 1, 1).bool(), torch.eye(H).expand(D, H, H), x)
        assert torch.equal(expect, y), name
        assert int(mask.sum()) == k
        T[f"{name}/input"] = c(x)
        T[f"{name}/output"] = c(y)
        T[f"{name}/perm"] = c(perm)
        T[f"{name}/mask"] = c(mask)
        metas.append(dict(name=name, p=p, D=D, H=H, seed=seed, num_replaced=k, replaced_blocks=mask.nonzero().flatten().tolist()))
    md = {
        "generator": GENERATOR,
        "versions": json.dumps(versions()),
        "cases": json.dumps(metas),
        "seed": str(seed),
        "doc": DROPOUT_DOC,
    }
    write(os.path.join(out_dir, "oft_dropout.safetensors"), T, md)
    return metas


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    summary = {}
    for kind, specs, seed0 in (
        ("linear", linear_cases(), 1000),
        ("conv2d", conv2d_cases(), 2000),
        ("embedding", embedding_cases(), 3000),
    ):
        metas = gen_layers(kind, specs, seed0, args.out)
        summary[kind] = metas
    summary["dropout"] = gen_dropout(args.out)

    if not args.quiet:
        for kind in ("linear", "conv2d", "embedding"):
            print(f"== {kind}")
            for m in summary[kind]:
                ch = ", ".join(f"{k}={v:.2e}" for k, v in m["checks"].items())
                w = f"  WARN: {m['peft_warnings']}" if m["peft_warnings"] else ""
                print(f"  {m['name']:<28} r={m['resolved']['r']:<2} b={m['resolved']['block_size']:<2} {ch}{w}")
        for m in summary["dropout"]:
            print(f"== dropout {m['name']}: replaced blocks {m['replaced_blocks']}")
        for f in sorted(os.listdir(args.out)):
            if f.endswith(".safetensors"):
                print(f"{f}: {os.path.getsize(os.path.join(args.out, f))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
