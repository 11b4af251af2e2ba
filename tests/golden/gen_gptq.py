#!/usr/bin/env python
"""Golden data for the gptq backend plugin, made with the REAL GPTQModel (PyPI `gptqmodel`, pinned in
requirements/golden-gptq.txt), which runs on CPU: its GPTQ quantizer (gptqmodel.quantization.gptq.GPTQ),
its packer and its torch kernel (gptqmodel.nn_modules.qlinear.torch.TorchLinear: dequantize_weight and
forward), and its v2 -> v1 zero-point export (gptqmodel.utils.model.convert_gptq_v2_to_v1_format_module).

Run from the repository root:

    .venv/bin/pip install -r requirements/golden-gptq.txt
    .venv/bin/python tests/golden/gen_gptq.py       # writes tests/golden/data/gptq/gptq_layers.safetensors

One float layer (out 32, in 256, fp32, seed 0; row 0 made positive so asymmetric groups get zero point 0,
which exercises the borrow of GPTQModel's whole-word v1 export) and one calibration set X (128 x 256) are
shared by every case. Per case GPTQModel quantizes the layer with X (damp_percent 0.05, act_group_aware off),
packs it, and we record:

  <case>/qweight, qzeros, scales, g_idx, bias   the checkpoint tensors as GPTQModel saves them: qzeros in the
                                                case's checkpoint_format ("gptq" = v1, stored zero - 1;
                                                "gptq_v2" = stored zero)
  <case>/codes      int32 (in, out) the integer codes (gptqmodel.utils.model_dequant.unpack_rows of qweight)
  <case>/zeros      int32 (groups, out) the integer zero points (its unpack_cols of the v2 qzeros)
  <case>/dequant    fp16 (out, in) TorchLinear.dequantize_weight(), transposed to nn.Linear layout
  <case>/x, y       fp16 input (4, in) and TorchLinear's forward output (fp16, computed by the library on CPU)

Shared tensors: weight (fp32 (32, 256)), bias (fp32 (32)), calibration (fp32 (128, 256)).
Metadata "cases": per case its settings, GPTQModel's quantization_config (to_dict, less the temporary
meta.offload_to_disk_path) and
gptqmodel_output_error = ||X (W - dequant)^T||_F / ||X W^T||_F on the calibration data.
Metadata "versions": the library versions that made the file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import torch
from safetensors.torch import save_file

import gptqmodel
import safetensors
from gptqmodel.nn_modules.qlinear.torch import TorchLinear
from gptqmodel.quantization.config import FORMAT, QuantizeConfig
from gptqmodel.quantization.gptq import GPTQ
from gptqmodel.utils.model import convert_gptq_v1_to_v2_format_module, convert_gptq_v2_to_v1_format_module
from gptqmodel.utils.model_dequant import unpack_cols, unpack_rows

IN, OUT, SAMPLES = 256, 32, 128

# name, bits, group_size, desc_act, sym, checkpoint_format
CASES = [
    ("b4_g128_sym_v1", 4, 128, False, True, "gptq"),
    ("b4_g32_asym_act_v1", 4, 32, True, False, "gptq"),
    ("b4_gall_asym_v1", 4, -1, False, False, "gptq"),
    ("b4_g64_asym_act_v2", 4, 64, True, False, "gptq_v2"),
    ("b2_g32_asym_v1", 2, 32, False, False, "gptq"),
    ("b2_gall_sym_v2", 2, -1, False, True, "gptq_v2"),
    ("b3_g64_asym_act_v1", 3, 64, True, False, "gptq"),
    ("b3_g128_sym_v2", 3, 128, False, True, "gptq_v2"),
    ("b3_g32_asym_v2", 3, 32, False, False, "gptq_v2"),
    ("b8_g128_asym_v1", 8, 128, False, False, "gptq"),
    ("b8_g32_sym_act_v2", 8, 32, True, True, "gptq_v2"),
]


def shared_inputs():
    torch.manual_seed(0)
    layer = torch.nn.Linear(IN, OUT, bias=True)
    with torch.no_grad():
        layer.weight[0] = layer.weight[0].abs() + 0.01
    calibration = torch.randn(SAMPLES, IN) * (1 + torch.rand(IN))  # uneven input scales: act-order matters
    return layer, calibration


def run_case(name, bits, group_size, desc_act, sym, checkpoint_format, base, calibration):
    layer = torch.nn.Linear(IN, OUT, bias=True)
    layer.load_state_dict(base.state_dict())
    fmt = FORMAT.GPTQ if checkpoint_format == "gptq" else FORMAT.GPTQ_V2
    qcfg = QuantizeConfig(bits=bits, group_size=group_size, desc_act=desc_act, sym=sym, damp_percent=0.05,
                          act_group_aware=False, format=fmt)
    gptq = GPTQ(layer, qcfg)
    gptq.quantizer.configure(perchannel=True)
    gptq.add_batch(calibration.unsqueeze(0), None)
    scale, zero, g_idx, *_ = gptq.hf_quantize(percdamp=0.05, group_size=group_size, actorder=desc_act,
                                              act_group_aware=False)
    # GPTQModel packs the module whose weight GPTQ replaced with its quantized values.
    q = TorchLinear(bits=bits, group_size=group_size, desc_act=desc_act, sym=sym, in_features=IN,
                    out_features=OUT, bias=True, pack_dtype=torch.int32)
    q.pack(layer, scale, zero, g_idx)
    qzeros_v2 = q.qzeros.clone()
    codes = unpack_rows(q.qweight, bits).to(torch.int32)
    zeros = unpack_cols(qzeros_v2, bits).to(torch.int32)
    convert_gptq_v2_to_v1_format_module(q, qcfg)
    qzeros_v1 = q.qzeros.clone()
    convert_gptq_v1_to_v2_format_module(q, bits, torch.int32)
    assert torch.equal(q.qzeros, qzeros_v2), "GPTQModel's v1 export does not round-trip"
    tensors = {
        "qweight": q.qweight.clone(),
        "qzeros": qzeros_v1 if checkpoint_format == "gptq" else qzeros_v2,
        "scales": q.scales.clone(),
        "g_idx": q.g_idx.to(torch.int32).clone(),
        "bias": q.bias.clone(),
    }
    q.post_init()
    q.eval()
    with torch.no_grad():
        dequant = q.dequantize_weight().t().contiguous()
        x = torch.randn(4, IN).to(torch.float16)
        y = q(x)
    w = base.weight.detach()
    err = (calibration @ (w - dequant.float()).t()).norm() / (calibration @ w.t()).norm()
    tensors.update(codes=codes, zeros=zeros, dequant=dequant, x=x, y=y)
    meta = {
        "name": name,
        "bits": bits,
        "group_size": group_size,
        "desc_act": desc_act,
        "sym": sym,
        "checkpoint_format": checkpoint_format,
        "damp_percent": 0.05,
        "quantization_config": quantization_config(qcfg),
        "gptqmodel_output_error": float(err),
    }
    return meta, {f"{name}/{k}": v.contiguous() for k, v in tensors.items()}


def quantization_config(qcfg) -> dict:
    """GPTQModel's to_dict(), less meta.offload_to_disk_path (a fresh temporary folder on every run)."""
    config = json.loads(json.dumps(qcfg.to_dict(), default=str))
    config.get("meta", {}).pop("offload_to_disk_path", None)
    return config


def versions() -> dict:
    return {
        "gptqmodel": gptqmodel.__version__,
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data", "gptq"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    base, calibration = shared_inputs()
    tensors = {
        "weight": base.weight.detach().clone(),
        "bias": base.bias.detach().clone(),
        "calibration": calibration.contiguous(),
    }
    metas = []
    for case in CASES:
        torch.manual_seed(1000 + len(metas))
        meta, t = run_case(*case, base, calibration)
        metas.append(meta)
        tensors.update(t)
        print(f"{meta['name']}: GPTQModel output error {meta['gptqmodel_output_error']:.5f}")
    path = os.path.join(args.out, "gptq_layers.safetensors")
    save_file(tensors, path, metadata={"generator": "tests/golden/gen_gptq.py", "versions": json.dumps(versions()),
                                       "cases": json.dumps(metas)})
    os.chmod(path, 0o644)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
