#!/usr/bin/env python
"""Golden data for the aqlm backend plugin (plugins/aqlm), made with the REAL aqlm package (PyPI `aqlm`,
pinned in requirements/golden-aqlm.txt) on CPU, and PEFT 0.21.2 wrapping its QuantizedLinear.

    .venv/bin/pip install -r requirements/golden-aqlm.txt
    .venv/bin/python tests/golden/gen_aqlm.py      # writes tests/golden/data/aqlm/*.safetensors

The PyPI package ships no quantizer, so codes, codebooks and scales come from OUR OWN seeded procedure
(seeded random values; NOT AQLM's optimizer). Everything the plugin must match comes from aqlm itself:
the storage (aqlm.utils.pack_int_data: signed codes, so codes >= 2^(B-1) are stored negative), the
decoding (unpack_int_data), the dequantization (_dequantize_weight) and the forward
(aqlm.inference_kernels.dequantization.dequantize_gemm). On CPU, QuantizedLinear.forward with 256-entry
codebooks picks a numba kernel and permutes `codes` in place, so it is never called for 8-bit codebooks;
for the 1x16 case its forward (the pure-torch path) is recorded too.

aqlm_layers.safetensors, per case "<case>/<field>":
  codes       int8/int16 [N/og, K/ig, C] as pack_int_data writes them
  codebooks   [C, 2^B, og, ig] in the case dtype; for 16-bit codebooks (1 MB) only the rows the codes use
              are stored: codebook_rows int64 [n] and codebooks_used [C, n, og, ig]; every other row is 0,
              and the library ran with exactly that full codebook
  scales      [N/og, 1, 1, 1]; bias [N] (when the case has one)
  unpacked    int64 codes after unpack_int_data
  dequant     _dequantize_weight(unpacked, codebooks, scales)  [N, K]
  x, y        input (4, K) and dequantize_gemm's output; y_module: QuantizedLinear.forward (1x16 only)
Metadata "cases": name, settings, dtype, quantization_config (transformers' AqlmConfig.to_dict()).

aqlm_oft.safetensors: PEFT's OFT Linear (oft_block_size 16, Normal(0, 0.1) adapter) around the real
QuantizedLinear (1x16, whose CPU forward is dequantize_gemm): the layer's tensors as above, adapter_weight,
x, y (eval forward), upstream (a fixed dL/dy) and adapter_grad (dL/d oft_R.weight with L = sum(y * upstream),
train mode).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata

import torch
from safetensors.torch import save_file

import peft
import safetensors
import transformers
from aqlm import QuantizedLinear
from aqlm.inference_kernels.dequantization import dequantize_gemm
from aqlm.utils import _dequantize_weight, pack_int_data, unpack_int_data
from transformers import AqlmConfig

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "aqlm")
DTYPES = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}

# name, num_codebooks, nbits, out_group, in_group, out, in, bias, dtype
CASES = [
    ("1x16_ig8_f16", 1, 16, 1, 8, 32, 64, True, "float16"),
    ("2x8_ig8_f16", 2, 8, 1, 8, 32, 64, True, "float16"),
    ("2x8_ig8_f32_nobias", 2, 8, 1, 8, 24, 48, False, "float32"),
    ("1x8_og2_ig4_f16", 1, 8, 2, 4, 32, 64, True, "float16"),
    ("3x6_og4_ig2_f16", 3, 6, 4, 2, 16, 32, True, "float16"),
    ("4x4_ig16_bf16", 4, 4, 1, 16, 16, 64, True, "bfloat16"),
]


def versions() -> dict:
    return {"aqlm": metadata.version("aqlm"), "torch": torch.__version__, "peft": peft.__version__,
            "transformers": transformers.__version__, "safetensors": safetensors.__version__,
            "python": platform.python_version()}


def own_codes(num_out_groups, num_in_groups, c, nbits):
    """Our seeded codes (not AQLM's optimizer), covering 0, 2^(B-1) and 2^B - 1 so the signed storage shows."""
    q = 2**nbits
    codes = torch.randint(0, q, (num_out_groups, num_in_groups, c), dtype=torch.int64)
    flat = codes.view(-1)
    flat[:3] = torch.tensor([0, q // 2, q - 1])
    return codes


def make_layer(c, nbits, og, ig, n, k, bias, dtype):
    """A QuantizedLinear holding our seeded codes/codebooks/scales, stored as aqlm stores them."""
    layer = QuantizedLinear(k, n, in_group_size=ig, out_group_size=og, num_codebooks=c, nbits_per_codebook=nbits,
                            bias=bias, dtype=dtype)
    codes = own_codes(n // og, k // ig, c, nbits)
    codebooks = torch.zeros(c, 2**nbits, og, ig)
    rows = torch.unique(codes.view(-1))
    codebooks[:, rows] = torch.randn(c, rows.numel(), og, ig) * 0.5
    with torch.no_grad():
        layer.codes.data = pack_int_data(codes.clone(), nbits).clone()  # a normal tensor, not an inference one
        layer.codebooks.data = codebooks.to(dtype)
        layer.scales.data = (torch.rand(n // og, 1, 1, 1) * 0.2 + 0.05).to(dtype)
        if bias:
            layer.bias.data = (torch.randn(n) * 0.1).to(dtype)
    return layer, rows


def put_layer(tensors, name, layer, rows):
    nbits = layer.nbits_per_codebook
    tensors[f"{name}/codes"] = layer.codes.data.clone()
    if nbits > 8:
        tensors[f"{name}/codebook_rows"] = rows
        tensors[f"{name}/codebooks_used"] = layer.codebooks.data[:, rows].clone()
    else:
        tensors[f"{name}/codebooks"] = layer.codebooks.data.clone()
    tensors[f"{name}/scales"] = layer.scales.data.clone()
    if layer.bias is not None:
        tensors[f"{name}/bias"] = layer.bias.data.clone()


def config_of(layer) -> dict:
    return AqlmConfig(in_group_size=layer.in_group_size, out_group_size=layer.out_group_size,
                      num_codebooks=layer.num_codebooks, nbits_per_codebook=layer.nbits_per_codebook).to_dict()


def gen_layers() -> None:
    tensors, cases = {}, []
    for i, (name, c, nbits, og, ig, n, k, bias, dtype_name) in enumerate(CASES):
        torch.manual_seed(500 + i)
        dtype = DTYPES[dtype_name]
        layer, rows = make_layer(c, nbits, og, ig, n, k, bias, dtype)
        put_layer(tensors, name, layer, rows)
        unpacked = unpack_int_data(layer.codes.data, nbits)
        x = torch.randn(4, k).to(dtype)
        with torch.no_grad():
            tensors[f"{name}/unpacked"] = unpacked
            tensors[f"{name}/dequant"] = _dequantize_weight(unpacked, layer.codebooks.data, layer.scales.data)
            tensors[f"{name}/x"] = x
            tensors[f"{name}/y"] = dequantize_gemm(x, layer.codes.data, layer.codebooks.data, layer.scales.data,
                                                   layer.bias)
            if 2**nbits != 256:  # QuantizedLinear's CPU forward is the pure-torch path only then
                tensors[f"{name}/y_module"] = layer(x)
        cases.append({"name": name, "num_codebooks": c, "nbits_per_codebook": nbits, "out_group_size": og,
                      "in_group_size": ig, "out_features": n, "in_features": k, "bias": bias, "dtype": dtype_name,
                      "quantization_config": config_of(layer)})
        print(f"{name}: codes {tuple(layer.codes.shape)} {layer.codes.dtype}, min stored {int(layer.codes.min())}")
    save("aqlm_layers.safetensors", tensors, cases)


class Holder(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def gen_oft() -> None:
    from peft import OFTConfig, get_peft_model

    tensors, cases = {}, []
    for i, dtype_name in enumerate(("float32", "float16")):
        torch.manual_seed(700 + i)
        dtype = DTYPES[dtype_name]
        name = f"oft_1x16_{dtype_name}"
        layer, rows = make_layer(1, 16, 1, 8, 24, 64, True, dtype)
        put_layer(tensors, name, layer, rows)
        config = OFTConfig(target_modules=["layer"], oft_block_size=16, r=0, init_weights=False)
        model = get_peft_model(Holder(layer), config)
        oft = model.base_model.model.layer
        assert type(oft.base_layer) is QuantizedLinear, "PEFT did not wrap the aqlm layer itself"
        tensors[f"{name}/adapter_weight"] = oft.oft_R["default"].weight.detach().clone()
        x = torch.randn(5, 64).to(dtype)
        tensors[f"{name}/x"] = x
        model.eval()
        with torch.no_grad():
            tensors[f"{name}/y"] = model(x)
        model.train()
        y = model(x)
        upstream = torch.randn(y.shape).to(dtype)
        (y.float() * upstream.float()).sum().backward()
        tensors[f"{name}/upstream"] = upstream
        tensors[f"{name}/adapter_grad"] = oft.oft_R["default"].weight.grad.detach().clone()
        cases.append({"name": name, "dtype": dtype_name, "oft_block_size": 16, "in_features": 64, "out_features": 24,
                      "quantization_config": config_of(layer), "peft_backend": type(oft.quantization_backend).__name__
                      if hasattr(oft, "quantization_backend") else ""})
    save("aqlm_oft.safetensors", tensors, cases)


def save(file_name: str, tensors: dict, cases: list) -> None:
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, file_name)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path,
              metadata={"generator": "tests/golden/gen_aqlm.py", "versions": json.dumps(versions()),
                        "cases": json.dumps(cases)})
    os.chmod(path, 0o644)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main() -> int:
    torch.set_num_threads(1)
    gen_layers()
    gen_oft()
    return 0


if __name__ == "__main__":
    sys.exit(main())
