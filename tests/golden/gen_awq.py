#!/usr/bin/env python
"""Golden data for the awq backend plugin, made with the REAL GPTQModel (PyPI `gptqmodel`, pinned in
requirements/golden-awq.txt), which is what transformers 5.24 loads AWQ checkpoints through. Everything runs
on CPU in pure torch:

  AWQProcessor.pseudo_quantize_tensor   AWQ's round-to-nearest grid (zero_point true: min/max, false: absmax)
  AwqTorchLinear.pack / forward         the GEMM checkpoint layout and the reference forward (dense dequant +
                                        fp16 matmul; used explicitly, not the CPU-specific AVX512 class)
  dequantize_gemm                       GPTQModel's GEMM dequantization
  AwqGEMVLinear.pack                    the GEMV layout (its forward is CUDA-only: the GEMV dequant below is the
                                        format's definition, checked here to equal the pseudo-quantized weight)
  AWQProcessor._compute_best_clip       AWQ's activation-aware clipping search
  AWQProcessor._compute_best_scale      AWQ's activation-aware input scale search (duo scaling, 20 ratios)
  PEFT 0.21.2 OFT around AwqTorchLinear forward and the adapter's gradient

Run from the repository root:

    .venv/bin/pip install -r requirements/golden-awq.txt
    .venv/bin/python tests/golden/gen_awq.py      # writes tests/golden/data/awq/*.safetensors

awq_layers.safetensors: one fp16 nn.Linear (out 16, in 128, seed 0) shared by the GEMM cases (the GEMV ones
use out 64, which AwqGEMVLinear needs, from the same seed). Per case:
  <case>/qweight, qzeros, scales, bias   the checkpoint tensors as GPTQModel packs them
  <case>/zeros   uint8 (groups, out) the integer zero points (2^(bits-1) when zero_point is false)
  <case>/dequant fp16 (out, in) the dequantized weight (dequantize_gemm transposed; GEMV: from the format)
  <case>/x, y    fp16 input (4, in) and AwqTorchLinear's forward output (GEMM cases only)
Metadata "cases": name, bits, group_size, zero_point, format, in/out_features and the quantization_config written as
transformers' AwqConfig(...).to_dict().

awq_clip.safetensors: AWQ's clip search on weight (64, 64) with inputs (128, 64) (uneven channel scales), both
stored in fp16 and searched in fp32, for 4-bit g32 with and without zero point: <case>/max_val (out, groups)
the chosen clamp bound.

awq_scale.safetensors: AWQ's input scale search for one linear (GPTQModel scores a lone linear, e.g.
down_proj, by its own output, as the plugin scores every group): weight (32, 128) and inputs (128, 128) with
every 16th channel 20x larger, stored in fp16 and searched in fp32; per case (4-bit g32 and 3-bit g64 with zero
point, 4-bit g32 symmetric) <case>/scale (in,) the chosen scale and <case>/loss its output mean squared error.
Written alone with --scale-only (the other files stay as they are).

awq_oft.safetensors: PEFT's OFT (oft_block_size 16, init_weights False) around the b4_g64_zp layer as
AwqTorchLinear: adapter_weight, x (fp16 (5, in)), output, and adapter_grad = d sum(output.float()^2) / d oft_R.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import types

import torch
from safetensors.torch import save_file

import gptqmodel
import peft
import safetensors
import transformers
from gptqmodel.looper.awq_processor import AWQProcessor, _compute_awq_weight_mean
from gptqmodel.nn_modules.qlinear.gemv_awq import AwqGEMVLinear
from gptqmodel.nn_modules.qlinear.torch_awq import AwqTorchLinear
from gptqmodel.quantization.awq.utils.packing_utils import dequantize_gemm, reverse_awq_order, unpack_awq
from transformers import AwqConfig

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "awq")
IN, OUT = 128, 16  # 16 outputs: 3 bits fill 1.5 words, so the last word is partly padding
GEMV_OUT = 64  # AwqGEMVLinear needs out_features % 64 == 0

# name, bits, group_size, zero_point, format
CASES = [
    ("b4_g128_zp", 4, 128, True, "gemm"),
    ("b4_g64_sym", 4, 64, False, "gemm"),
    ("b4_gall_zp", 4, -1, True, "gemm"),
    ("b3_g64_zp", 3, 64, True, "gemm"),
    ("b3_g32_sym", 3, 32, False, "gemm"),
    ("b2_g32_zp", 2, 32, True, "gemm"),
    ("b8_g128_zp", 8, 128, True, "gemm"),
    ("gemv_b4_g64_zp", 4, 64, True, "gemv"),
    ("gemv_b4_g128_sym", 4, 128, False, "gemv"),
]


def awq_stub(bits: int, group_size: int, zero_point: bool):
    """An object with what AWQProcessor's quantizer methods read (qcfg) and call on self."""
    stub = types.SimpleNamespace(qcfg=types.SimpleNamespace(bits=bits, group_size=group_size, sym=not zero_point))
    stub._pseudo_quantize_tensor_into = types.MethodType(AWQProcessor._pseudo_quantize_tensor_into, stub)
    return stub


def pseudo_quantize(weight, bits, group_size, zero_point):
    return AWQProcessor.pseudo_quantize_tensor(awq_stub(bits, group_size, zero_point), weight)


def base_layer(out_features=OUT):
    torch.manual_seed(0)
    layer = torch.nn.Linear(IN, out_features, bias=True)
    with torch.no_grad():
        layer.weight[0] = layer.weight[0].abs() + 0.01  # an all-positive row: zero point 0 in every group
    return layer.half()


def gemm_case(base, bits, group_size, zero_point):
    wq, scales, zeros = pseudo_quantize(base.weight.data, bits, group_size, zero_point)
    layer = torch.nn.Linear(IN, OUT, bias=True).half()
    layer.weight.data, layer.bias.data = wq.clone(), base.bias.data.clone()
    q = AwqTorchLinear(bits=bits, group_size=group_size, sym=not zero_point, desc_act=False, in_features=IN,
                       out_features=OUT, bias=True, pack_dtype=torch.int32)
    q.pack(layer, scales, zeros)
    q.post_init()
    q.eval()
    gs = q.group_size
    dequant = dequantize_gemm(q.qweight, q.qzeros, q.scales, bits, gs).t().contiguous()
    assert torch.equal(dequant, wq), "GPTQModel's GEMM dequant differs from its pseudo-quantized weight"
    _, izeros = reverse_awq_order(*unpack_awq(q.qweight, q.qzeros, bits, OUT), bits)
    x = torch.randn(4, IN).half()
    with torch.no_grad():
        y = q(x)
    return {"qweight": q.qweight, "qzeros": q.qzeros, "scales": q.scales, "bias": q.bias,
            "zeros": izeros.to(torch.uint8), "dequant": dequant, "x": x, "y": y}


def gemv_case(bits, group_size, zero_point):
    base = base_layer(GEMV_OUT)
    wq, scales, zeros = pseudo_quantize(base.weight.data, bits, group_size, zero_point)
    layer = torch.nn.Linear(IN, GEMV_OUT, bias=True).half()
    layer.weight.data, layer.bias.data = wq.clone(), base.bias.data.clone()
    q = AwqGEMVLinear(bits=bits, group_size=group_size, sym=not zero_point, desc_act=False, in_features=IN,
                      out_features=GEMV_OUT, bias=True, pack_dtype=torch.int32)
    q.pack(layer, scales, zeros)
    gs = q.group_size
    groups = IN // gs
    # The format's definition: qweight nibble i of word c = input 8c+i; zero of group g = nibble g%8 of
    # qzeros[:, g//8]; scale of group g = scales[:, g].
    shifts = torch.arange(0, 32, 4)
    codes = ((q.qweight.unsqueeze(-1) >> shifts) & 15).reshape(GEMV_OUT, IN)
    izeros = ((q.qzeros.unsqueeze(-1) >> shifts) & 15).reshape(GEMV_OUT, -1)[:, :groups]
    g = torch.arange(IN) // gs
    dequant = (codes - izeros[:, g]) * q.scales[:, :groups][:, g]
    assert torch.equal(dequant, wq), "the GEMV format's dequant differs from the pseudo-quantized weight"
    return {"qweight": q.qweight, "qzeros": q.qzeros, "scales": q.scales, "bias": q.bias,
            "zeros": izeros.t().contiguous().to(torch.uint8), "dequant": dequant}


def quantization_config(bits, group_size, zero_point, fmt) -> dict:
    return AwqConfig(bits=bits, group_size=group_size, zero_point=zero_point, version=fmt).to_dict()


def gen_layers():
    base = base_layer()
    tensors, cases = {}, []
    for i, (name, bits, group_size, zero_point, fmt) in enumerate(CASES):
        torch.manual_seed(100 + i)
        t = gemm_case(base, bits, group_size, zero_point) if fmt == "gemm" else gemv_case(bits, group_size, zero_point)
        tensors.update({f"{name}/{k}": v.detach().contiguous() for k, v in t.items()})
        cases.append({"name": name, "bits": bits, "group_size": group_size, "zero_point": zero_point, "format": fmt,
                      "in_features": IN, "out_features": OUT if fmt == "gemm" else GEMV_OUT,
                      "quantization_config": quantization_config(bits, group_size, zero_point, fmt)})
    tensors["weight"] = base.weight.detach().clone()
    save("awq_layers.safetensors", tensors, cases)


def gen_clip():
    torch.manual_seed(7)
    # Stored in fp16 (small files); the search runs in fp32 on these values.
    w = (torch.randn(64, 64) * 0.1).half()
    x = (torch.randn(128, 64) * (0.2 + 3 * torch.rand(64))).half()
    tensors, cases = {"weight": w, "input": x}, []
    for name, zero_point in (("b4_g32_zp", True), ("b4_g32_sym", False)):
        max_val = AWQProcessor._compute_best_clip(awq_stub(4, 32, zero_point), w.float(), x.float())
        tensors[f"{name}/max_val"] = max_val.reshape(64, -1).contiguous()
        cases.append({"name": name, "bits": 4, "group_size": 32, "zero_point": zero_point})
    save("awq_clip.safetensors", tensors, cases)


def gen_scale():
    torch.manual_seed(11)
    w = (torch.randn(32, 128) * 0.05).half()
    channel_scale = torch.ones(128)
    channel_scale[::16] = 20.0
    x = (torch.randn(128, 128) * channel_scale).half()
    tensors, cases = {"weight": w, "input": x}, []
    for name, bits, group_size, zero_point in (("b4_g32_zp", 4, 32, True), ("b3_g64_zp", 3, 64, True),
                                               ("b4_g32_sym", 4, 32, False)):
        layer = torch.nn.Linear(128, 32, bias=False)
        layer.weight.data = w.float()
        layer.requires_grad_(False)
        xf = x.float()
        # What _compute_best_scale reads and calls on self, on its eager (unchunked) scoring path.
        stub = awq_stub(bits, group_size, zero_point)
        stub.qcfg.scale_search_chunked_activations = False
        stub.duo_scaling, stub.max_chunk_memory, stub._scale_context = True, 1 << 30, threading.local()
        stub._module_forward = lambda inp, module, kwargs: module(inp)
        stub._compute_loss = types.MethodType(AWQProcessor._compute_loss, stub)
        w_mean = _compute_awq_weight_mean([layer], group_size)
        x_mean = xf.abs().view(-1, 128).float().sum(0) / xf.shape[0]  # _search_best_scale's x_mean
        with torch.no_grad():
            scale, loss = AWQProcessor._compute_best_scale(stub, xf, w_mean, x_mean, layer, [layer], layer(xf))
        tensors[f"{name}/scale"] = scale.float().contiguous()
        tensors[f"{name}/loss"] = torch.tensor([loss], dtype=torch.float64)
        cases.append({"name": name, "bits": bits, "group_size": group_size, "zero_point": zero_point})
    save("awq_scale.safetensors", tensors, cases)


def gen_oft():
    from peft import OFTConfig, get_peft_model

    class Holder(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)

    base = base_layer()
    torch.manual_seed(300)
    t = gemm_case(base, 4, 64, True)
    q = AwqTorchLinear(bits=4, group_size=64, sym=False, desc_act=False, in_features=IN, out_features=OUT, bias=True,
                       pack_dtype=torch.int32, register_buffers=True)
    for k in ("qweight", "qzeros", "scales", "bias"):
        getattr(q, k).copy_(t[k])
    q.post_init()
    config = OFTConfig(target_modules=["layer"], oft_block_size=16, r=0, init_weights=False)
    model = get_peft_model(Holder(q), config)
    oft = model.base_model.model.layer
    assert type(oft.base_layer) is AwqTorchLinear, "PEFT did not wrap the AWQ layer itself"
    x = torch.randn(5, IN).half()
    model.train()
    out = model(x)
    out.float().pow(2).sum().backward()
    tensors = {"adapter_weight": oft.oft_R["default"].weight.detach().clone(), "x": x, "output": out.detach(),
               "adapter_grad": oft.oft_R["default"].weight.grad.detach().clone()}
    for k in ("qweight", "qzeros", "scales", "bias"):
        tensors[k] = t[k]
    save("awq_oft.safetensors", tensors, [{"name": "b4_g64_zp", "oft_block_size": 16, "bits": 4, "group_size": 64,
                                           "zero_point": True,
                                           "quantization_config": quantization_config(4, 64, True, "gemm")}])


def versions() -> dict:
    return {"gptqmodel": gptqmodel.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "torch": torch.__version__, "safetensors": safetensors.__version__,
            "python": platform.python_version()}


def save(file_name, tensors, cases):
    path = os.path.join(OUT_DIR, file_name)
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              metadata={"generator": "tests/golden/gen_awq.py", "versions": json.dumps(versions()),
                        "cases": json.dumps(cases)})
    os.chmod(path, 0o644)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main() -> None:
    global OUT_DIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=OUT_DIR)
    parser.add_argument("--scale-only", action="store_true", help="write awq_scale.safetensors alone")
    args = parser.parse_args()
    OUT_DIR = args.out
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    if not args.scale_only:
        gen_layers()
        gen_clip()
        gen_oft()
    gen_scale()


if __name__ == "__main__":
    main()
