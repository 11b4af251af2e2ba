#!/usr/bin/env python
"""Golden data for the bitsandbytes backend plugin (plugins/bnb), made with the REAL bitsandbytes on CPU.

    .venv/bin/pip install -r requirements/golden-bnb.txt
    .venv/bin/python tests/golden/gen_bnb.py          # writes tests/golden/data/bnb/*.safetensors

Files (tensor names "<case>/<field>"; metadata "cases" = JSON list of case descriptions, "versions"):

  bnb_8bit.safetensors  Linear8bitLt (LLM.int8) layers quantized by bitsandbytes on CPU (Int8Params moved to
      "cpu" quantizes the fp16-cast weight with the default int8_vectorwise_quant op).
      Fields: dense (the float weight given to bnb), state/<key> (the module's state_dict: weight int8, SCB,
      weight_format, bias), dequant (int8_vectorwise_dequant(CB, SCB), what PEFT's dequantize_bnb_weight uses),
      input, out_eval (eval-mode forward: MatMul8bitLt int8 path), out_train (train-mode forward: CPU
      MatMul8bitFp, dequantized fp matmul). Cases differ in shape, bias, input dtype and llm_int8_threshold
      (0 = the Linear8bitLt default; 6.0 = transformers' default, with planted outlier columns).
  bnb_4bit.safetensors  Linear4bit (NF4/FP4) layers: every blocksize bitsandbytes accepts, with and without nested
      absmax, fp32/fp16/bf16 source weights. Fields: dense, state/<key> (state_dict: weight, weight.absmax,
      weight.quant_map, weight.nested_absmax, weight.nested_quant_map, weight.quant_state.bitsandbytes__<type>,
      bias), dequant (F.dequantize_4bit), and for cases with an input: input, output (eval forward).
      CPU caveat: bnb's native CPU quantize_blockwise (used for the nested absmax on CPU) picks a neighbouring
      code for some values; bitsandbytes' own PyTorch reference kernel ("default") and its CUDA kernel pick the
      nearest code. The nested state here is made with the reference kernel (see nested_reference below), and
      cpu_native/<case> records what the native CPU kernel gives, for the report.
  bnb_oft.safetensors  OFT over bnb layers: PEFT's OFT Linear wrapped around the real bnb layer (PEFT 0.21.2's
      default dispatcher accepts Linear8bitLt/Linear4bit since they subclass nn.Linear), adapter weights drawn
      Normal(0, 0.1); fields: state/<key>, adapter_weight, input, output (eval forward), base_output.
"""

from __future__ import annotations

import json
import os
import sys

import peer_cpu_path  # before torch: the same bitsandbytes CPU path on every CPU
import torch
from safetensors.torch import save_file

import bitsandbytes as bnb
import bitsandbytes.functional as F
from bitsandbytes.nn import Linear4bit, Linear8bitLt

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bnb")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def versions() -> dict:
    import peft
    import transformers

    return {"bitsandbytes": bnb.__version__, "torch": torch.__version__, "peft": peft.__version__,
            "transformers": transformers.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_path": "pinned (tests/golden/peer_cpu_path.py)"}


def save(name: str, tensors: dict, cases: list, extra: dict | None = None) -> None:
    os.makedirs(OUT, exist_ok=True)
    meta = {"cases": json.dumps(cases), "versions": json.dumps(versions())}
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, os.path.join(OUT, name), metadata=meta)


def put_state(tensors: dict, case: str, module: torch.nn.Module) -> list:
    keys = []
    for k, v in module.state_dict().items():
        tensors[f"{case}/state/{k}"] = v
        keys.append(k)
    return keys


def planted_outliers(x: torch.Tensor, cols: list, value: float) -> torch.Tensor:
    x = x.clone()
    x[..., cols] = value * torch.sign(x[..., cols] + 1e-3)
    return x


# ---------------------------------------------------------------------------------------------- 8-bit
def gen_8bit() -> None:
    tensors, cases = {}, []
    specs = [
        # name, out, in, bias, input dtype, threshold, input batch shape
        ("t0_f16_bias", 16, 64, True, "float16", 0.0, (3,)),
        ("t0_f32_nobias", 12, 40, False, "float32", 0.0, (2, 3)),
        ("t0_bf16_bias", 8, 48, True, "bfloat16", 0.0, (4,)),
        ("t6_f16_outliers", 16, 64, True, "float16", 6.0, (5,)),
        ("t6_f16_one_row", 16, 64, True, "float16", 6.0, (1,)),
        ("t6_f32_no_outliers", 12, 40, True, "float32", 6.0, (3,)),
    ]
    for i, (name, n, k, bias, in_dtype, threshold, batch) in enumerate(specs):
        torch.manual_seed(100 + i)
        dense = torch.nn.Linear(k, n, bias=bias).to(torch.float16)
        with torch.no_grad():
            dense.weight[0, 0] = 0.0  # a zero weight and a row with one large entry
            dense.weight[1, 3] = 2.5
        layer = Linear8bitLt(k, n, bias=bias, has_fp16_weights=False, threshold=threshold)
        layer.load_state_dict(dense.state_dict())
        layer = layer.to("cpu")  # Int8Params quantizes here
        keys = put_state(tensors, name, layer)
        tensors[f"{name}/dense"] = dense.weight.detach()
        tensors[f"{name}/dequant"] = F.int8_vectorwise_dequant(layer.weight.data, layer.weight.SCB)
        x = torch.randn(*batch, k).to(DTYPES[in_dtype])
        if threshold > 0 and "no_outliers" not in name:
            x = planted_outliers(x, [2, 7], 8.0)
        tensors[f"{name}/input"] = x
        with torch.no_grad():
            layer.eval()
            tensors[f"{name}/out_eval"] = layer(x)
            layer.train()
            tensors[f"{name}/out_train"] = layer(x)
        cases.append({"name": name, "out_features": n, "in_features": k, "bias": bias, "input_dtype": in_dtype,
                      "threshold": threshold, "state_keys": keys})
    config = transformers_config(load_in_8bit=True)
    save("bnb_8bit.safetensors", tensors, cases, {"quantization_config": config})


# ---------------------------------------------------------------------------------------------- 4-bit
def nested_reference(absmax: torch.Tensor):
    """bnb's own nested-absmax quantization, run through its PyTorch reference kernel (the "default" dispatch key),
    which picks the nearest code like the CUDA kernel. Returns (codes, nested_absmax, offset)."""
    offset = absmax.mean()
    code = F.create_dynamic_map()
    keys = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
    q, nested = torch.ops.bitsandbytes.quantize_blockwise.default.redispatch(keys, absmax - offset, code, 256)
    return q, nested, offset


def make_4bit(dense: torch.nn.Linear, quant_type: str, blocksize: int, nested: bool, compute: str,
              storage: str = "uint8"):
    storage_dtype = torch.uint8 if storage == "uint8" else DTYPES[storage]
    layer = Linear4bit(dense.in_features, dense.out_features, bias=dense.bias is not None,
                       compute_dtype=DTYPES[compute], compress_statistics=nested, quant_type=quant_type,
                       quant_storage=storage_dtype)
    layer.weight = bnb.nn.Params4bit(dense.weight.detach().clone(), requires_grad=False, blocksize=blocksize,
                                     compress_statistics=nested, quant_type=quant_type, quant_storage=storage_dtype)
    if dense.bias is not None:
        layer.bias = torch.nn.Parameter(dense.bias.detach().clone(), requires_grad=False)
    layer = layer.to("cpu")  # Params4bit quantizes here
    peer_cpu_path.use_dequantize_path(layer)
    native = None
    if nested:
        qs = layer.weight.quant_state
        native = qs.absmax.clone()
        _, raw = torch.ops.bitsandbytes.quantize_4bit.default(dense.weight.detach(), blocksize, quant_type,
                                                              torch.uint8)
        q, nested_absmax, offset = nested_reference(raw)
        qs.absmax, qs.state2.absmax, qs.offset = q, nested_absmax, offset
    return layer, native


def gen_4bit() -> None:
    tensors, cases = {}, []
    blocksizes = (32, 64, 128, 256, 512, 1024, 2048, 4096)
    dense_by_dtype = {}
    for d, dtype in DTYPES.items():
        torch.manual_seed(7)
        dense = torch.nn.Linear(100, 12).to(dtype)  # 1200 weights: every blocksize ends in a partial block
        with torch.no_grad():
            dense.weight[0, :4] = 0.0
            dense.weight[3, 0] = 1.5
        dense_by_dtype[d] = dense
        tensors[f"dense_{d}/weight"] = dense.weight.detach()
        tensors[f"dense_{d}/bias"] = dense.bias.detach()
    torch.manual_seed(8)
    wide = torch.nn.Linear(100, 96, bias=False)  # 9600 weights / 32 = 300 absmax: two nested blocks
    tensors["dense_wide/weight"] = wide.weight.detach()

    def case(name, dense, dense_key, qt, bs, nested, compute="float32", input_dtype=None, storage="uint8"):
        layer, native = make_4bit(dense, qt, bs, nested, compute, storage)
        keys = put_state(tensors, name, layer)
        tensors[f"{name}/dequant"] = F.dequantize_4bit(layer.weight.data, layer.weight.quant_state)
        if native is not None:
            tensors[f"cpu_native/{name}"] = native
        entry = {"name": name, "dense": dense_key, "quant_type": qt, "blocksize": bs, "nested": nested,
                 "compute_dtype": compute, "dtype": str(dense.weight.dtype).split(".")[1], "state_keys": keys,
                 "out_features": dense.out_features, "in_features": dense.in_features,
                 "bias": dense.bias is not None, "quant_storage": storage}
        if input_dtype is not None:
            x = torch.randn(3, dense.in_features).to(DTYPES[input_dtype])
            tensors[f"{name}/input"] = x
            with torch.no_grad():
                tensors[f"{name}/output"] = layer.eval()(x)
            entry["input_dtype"] = input_dtype
        cases.append(entry)

    torch.manual_seed(9)
    for qt in ("nf4", "fp4"):
        for bs in blocksizes:
            for nested in (False, True):
                d = "float16" if bs in (64, 256, 2048) else ("bfloat16" if bs in (128, 1024) else "float32")
                inp = "float32" if bs == 64 else None
                case(f"{qt}_bs{bs}_{'nested' if nested else 'plain'}_{d}", dense_by_dtype[d], f"dense_{d}",
                     qt, bs, nested, input_dtype=inp)
        case(f"{qt}_bs32_nested_wide", wide, "dense_wide", qt, 32, True, input_dtype="float32")
    # compute dtype: bf16 compute with an fp32 input, fp32 compute with an fp16 input, fp16 compute
    case("nf4_bs64_compute_bf16", dense_by_dtype["float32"], "dense_float32", "nf4", 64, False, "bfloat16", "float32")
    case("nf4_bs64_compute_f32_in_f16", dense_by_dtype["float16"], "dense_float16", "nf4", 64, True, "float32",
         "float16")
    case("fp4_bs64_compute_f16", dense_by_dtype["float16"], "dense_float16", "fp4", 64, False, "float16", "float16")
    torch.manual_seed(10)
    odd = torch.nn.Linear(7, 5)  # 35 weights: the last byte holds one code
    tensors["dense_odd/weight"] = odd.weight.detach()
    tensors["dense_odd/bias"] = odd.bias.detach()
    case("nf4_bs32_plain_odd", odd, "dense_odd", "nf4", 32, False, input_dtype="float32")
    case("fp4_bs64_nested_odd", odd, "dense_odd", "fp4", 64, True, input_dtype="float32")
    # bnb_4bit_quant_storage: the same bytes saved as another dtype (FSDP)
    case("nf4_bs64_storage_bf16", dense_by_dtype["float32"], "dense_float32", "nf4", 64, False, input_dtype="float32",
         storage="bfloat16")
    configs = {
        "nf4_double": transformers_config(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                          bnb_4bit_compute_dtype=torch.bfloat16),
        "fp4_default": transformers_config(load_in_4bit=True),
    }
    # json.dumps writes floats with repr(); the quant-state blob's nested_offset is one.
    reprs = [[v, repr(v)] for v in (1e-05, 0.0001, 0.00012345, 1e16, 1.5e16, 123456789.0, 2.5e-07, -0.0, 0.1, 3.0,
                                    float(torch.tensor(0.0123).item()), -7.62939453125e-06)]
    save("bnb_4bit.safetensors", tensors, cases, {"quantization_configs": configs,
                                                 "dynamic_map": F.create_dynamic_map().tolist(), "float_reprs": reprs})


def transformers_config(**kwargs) -> str:
    from transformers import BitsAndBytesConfig

    return json.dumps(BitsAndBytesConfig(**kwargs).to_dict())  # what transformers writes into config.json


# ---------------------------------------------------------------------------------------------- OFT
def gen_oft() -> None:
    from peft import OFTConfig, get_peft_model

    tensors, cases = {}, []

    class Holder(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)

    for i, kind in enumerate(("int8", "nf4_nested")):
        torch.manual_seed(300 + i)
        dense = torch.nn.Linear(64, 24).to(torch.float16 if kind == "int8" else torch.float32)
        if kind == "int8":
            layer = Linear8bitLt(64, 24, has_fp16_weights=False, threshold=0.0)
            layer.load_state_dict(dense.state_dict())
            layer = layer.to("cpu")
            in_dtype = torch.float16
        else:
            layer, _ = make_4bit(dense, "nf4", 64, True, "float32")
            in_dtype = torch.float32
        name = f"oft_{kind}"
        keys = put_state(tensors, name, layer)
        x = torch.randn(4, 64).to(in_dtype)
        with torch.no_grad():
            tensors[f"{name}/base_output"] = layer.eval()(x)
        config = OFTConfig(target_modules=["layer"], oft_block_size=16, r=0, init_weights=False)
        model = get_peft_model(Holder(layer), config).eval()
        oft = model.base_model.model.layer
        assert type(oft.base_layer) is type(layer), "PEFT did not wrap the bnb layer itself"
        tensors[f"{name}/adapter_weight"] = oft.oft_R["default"].weight.detach().clone()
        tensors[f"{name}/input"] = x
        with torch.no_grad():
            tensors[f"{name}/output"] = model(x)
        cases.append({"name": name, "kind": kind, "state_keys": keys, "oft_block_size": 16, "in_features": 64,
                      "out_features": 24, "input_dtype": str(in_dtype).split(".")[1]})
    save("bnb_oft.safetensors", tensors, cases)


def main() -> int:
    torch.set_num_threads(1)
    peer_cpu_path.use_portable_4bit_dequantization()  # the values every CPU's portable path gives
    gen_8bit()
    gen_4bit()
    gen_oft()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
