#!/usr/bin/env python
"""Golden data for the hqq backend plugin (plugins/hqq), made with the REAL hqq (PyPI `hqq`, pinned in
requirements/golden-hqq.txt, installed with DISABLE_CUDA=1: pure Python, PyTorch backend) and PEFT 0.21.2.

    DISABLE_CUDA=1 .venv/bin/pip install -r requirements/golden-hqq.txt
    .venv/bin/python tests/golden/gen_hqq.py        # writes tests/golden/data/hqq/

transformers 5.24 can neither quantize nor load HQQ checkpoints, so the checkpoint layout is what
HQQLinear.state_dict() writes (the encoded, safetensors-compatible form: meta data as uint8/int32/int64/
float32 tensors) under "<module>.", with transformers' HqqConfig(...).to_dict() as quantization_config.

One float layer (out 16, in 64, fp32, seed 0; row 3 constant, so one axis-1 group takes
hqq's "max - min <= 1e-4" branch) is shared by every case. Per case, HQQLinear quantizes it on CPU
(its proximal optimizer runs in fp32 there) with BaseQuantizeConfig(nbits, group_size, axis, view_as_float)
and the case's compute dtype, and we record:

  <case>/state/<key>   HQQLinear.state_dict() (W_q, scale, zero, bias and the encoded meta tensors)
  <case>/dequant       HQQLinear.dequantize() (compute dtype, (out, in))
  <case>/x, y          an input (4, in) in the compute dtype and HQQLinear's forward (PyTorch backend)

OFT cases (PEFT 0.21.2 wrapping the real HQQLinear, OFTConfig(oft_block_size=16, init_weights=False)):

  oft_<case>/state/<key>, adapter_weight, x
  oft_<case>/y                 eval forward
  oft_<case>/grad              d sum(y.float()^2) / d oft_R.weight in train mode
  oft_<case>/merged/<key>      the HQQLinear PEFT's merge() put in place (W_q, scale, zero: no bias, N1)
  oft_<case>/merged_dequant    its dequantize()
  oft_<case>/merged_y          the merged model's forward on x (PEFT's, without the bias it dropped)

Metadata "cases": per case its settings, the state keys and HqqConfig.to_dict(); "versions".

A whole checkpoint, llama_hqq/ (config.json + model.safetensors): the tiny dense LLaMA of
tests/golden/data/models/hf/llama_sharded with every decoder linear replaced by an HQQLinear (4-bit, group 32,
axis 1, fp32 compute; lm_head skipped as HqqConfig's skip_modules says), saved as transformers lays out a
model (HQQLinear.state_dict() keys under "<module>.") with HqqConfig.to_dict() as quantization_config.
llama_hqq_logits.safetensors: input_ids (2, 5) and the hqq-patched transformers model's logits.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys

import peer_cpu_path  # noqa: F401  (before torch: the same torch CPU path on every CPU)
import torch
from safetensors.torch import save_file

import peft
import transformers
from hqq.core.quantize import BaseQuantizeConfig, HQQBackend, HQQLinear
from transformers import HqqConfig

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "hqq")
IN, OUTF = 64, 16
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# name, nbits, group_size, axis, compute dtype, view_as_float
CASES = [
    ("b4_g64_a1_fp16", 4, 64, 1, "float16", False),
    ("b3_g64_a1_bf16", 3, 64, 1, "bfloat16", False),
    ("b2_g32_a0_fp16", 2, 32, 0, "float16", False),
    ("b8_g128_a1_fp32", 8, 128, 1, "float32", False),
    ("b1_g32_a1_fp16", 1, 32, 1, "float16", False),
    ("b158_g32_a0_bf16", 1.58, 32, 0, "bfloat16", False),
    ("b4_g64_a0_fp16_vaf", 4, 64, 0, "float16", True),
    ("b3_g32_a0_fp32_vaf", 3, 32, 0, "float32", True),
    ("b2_g16_a1_bf16_vaf", 2, 16, 1, "bfloat16", True),
]
OFT_CASES = [("b4_g64_a1_fp32", 4, 64, 1, "float32", False), ("b3_g32_a0_fp16", 3, 32, 0, "float16", False)]


def versions() -> dict:
    import safetensors

    return {"hqq": importlib.metadata.version("hqq"), "torch": torch.__version__,
            "peft": peft.__version__, "transformers": transformers.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_path": "pinned (tests/golden/peer_cpu_path.py)"}


def shared_layer() -> torch.nn.Linear:
    torch.manual_seed(0)
    layer = torch.nn.Linear(IN, OUTF, bias=True)
    with torch.no_grad():
        layer.weight.mul_(3.0)
        layer.weight[3] = 0.01
    return layer


def hqq_layer(base: torch.nn.Linear, nbits, group_size, axis, dtype, view_as_float) -> HQQLinear:
    dense = torch.nn.Linear(IN, OUTF, bias=True)
    dense.load_state_dict(base.state_dict())
    config = BaseQuantizeConfig(nbits=nbits, group_size=group_size, axis=axis, view_as_float=view_as_float)
    return HQQLinear(dense, config, compute_dtype=DTYPES[dtype], device="cpu")


def quantization_config(nbits, group_size, axis, view_as_float) -> dict:
    return json.loads(json.dumps(HqqConfig(nbits=nbits, group_size=group_size, axis=axis,
                                           view_as_float=view_as_float).to_dict(), default=str))


def put_state(tensors: dict, prefix: str, layer: HQQLinear) -> list:
    state = layer.state_dict()
    for k, v in state.items():
        tensors[f"{prefix}/{k}"] = v.detach().clone()
    return sorted(state)


def describe(name, nbits, group_size, axis, dtype, view_as_float, keys) -> dict:
    return {"name": name, "nbits": nbits, "group_size": group_size, "axis": axis, "compute_dtype": dtype,
            "view_as_float": view_as_float, "state_keys": keys,
            "quantization_config": quantization_config(nbits, group_size, axis, view_as_float)}


def gen_layers(base, tensors: dict) -> list:
    cases = []
    for i, (name, nbits, gs, axis, dtype, vaf) in enumerate(CASES):
        layer = hqq_layer(base, nbits, gs, axis, dtype, vaf)
        keys = put_state(tensors, f"{name}/state", layer)
        torch.manual_seed(100 + i)
        x = torch.randn(4, IN).to(DTYPES[dtype])
        with torch.no_grad():
            tensors[f"{name}/dequant"] = layer.dequantize().clone()
            tensors[f"{name}/x"] = x
            tensors[f"{name}/y"] = layer(x).clone()
        cases.append(describe(name, nbits, gs, axis, dtype, vaf, keys))
    return cases


class Holder(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def gen_oft(base, tensors: dict) -> list:
    from peft import OFTConfig, get_peft_model

    cases = []
    for i, (case, nbits, gs, axis, dtype, vaf) in enumerate(OFT_CASES):
        name = f"oft_{case}"
        layer = hqq_layer(base, nbits, gs, axis, dtype, vaf)
        keys = put_state(tensors, f"{name}/state", layer)
        torch.manual_seed(200 + i)
        config = OFTConfig(target_modules=["layer"], oft_block_size=16, r=0, init_weights=False)
        model = get_peft_model(Holder(layer), config)
        oft = model.base_model.model.layer
        assert type(oft.base_layer) is HQQLinear, "PEFT did not wrap the HQQLinear itself"
        x = torch.randn(4, IN).to(DTYPES[dtype])
        tensors[f"{name}/adapter_weight"] = oft.oft_R["default"].weight.detach().clone()
        tensors[f"{name}/x"] = x
        model.train()
        model(x).float().pow(2).sum().backward()
        tensors[f"{name}/grad"] = oft.oft_R["default"].weight.grad.detach().clone()
        model.eval()
        with torch.no_grad():
            tensors[f"{name}/y"] = model(x).clone()
            oft.merge()  # PEFT requantizes into a new HQQLinear without the bias (N1)
            merged = oft.base_layer
            assert merged.bias is None, "PEFT kept the bias: N1 no longer holds"
            for k in ("W_q", "scale", "zero"):
                tensors[f"{name}/merged/{k}"] = merged.state_dict()[k].detach().clone()
            tensors[f"{name}/merged_dequant"] = merged.dequantize().clone()
            tensors[f"{name}/merged_y"] = model(x).clone()
        cases.append(describe(name, nbits, gs, axis, dtype, vaf, keys))
    return cases


MODEL_CONFIG = {"nbits": 4, "group_size": 32, "axis": 1}


def gen_model() -> None:
    from transformers import LlamaForCausalLM

    dense_dir = os.path.join(os.path.dirname(OUT), "models", "hf", "llama_sharded")
    model = LlamaForCausalLM.from_pretrained(dense_dir, dtype=torch.float32).eval()
    config = BaseQuantizeConfig(**MODEL_CONFIG)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear) and child_name != "lm_head":
                setattr(module, child_name, HQQLinear(child, config, compute_dtype=torch.float32, device="cpu"))
    torch.manual_seed(7)
    ids = torch.randint(0, model.config.vocab_size, (2, 5))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    out_dir = os.path.join(OUT, "llama_hqq")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(dense_dir, "config.json")) as f:
        config_json = json.load(f)
    config_json["quantization_config"] = quantization_config(view_as_float=False, **MODEL_CONFIG)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config_json, f, indent=2)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    logits_path = os.path.join(OUT, "llama_hqq_logits.safetensors")
    save_file({"input_ids": ids, "logits": logits.contiguous()}, logits_path,
              metadata={"generator": "tests/golden/gen_hqq.py", "versions": json.dumps(versions()),
                        "cases": json.dumps([{"name": "llama_hqq", "compute_dtype": "float32", **MODEL_CONFIG}])})
    for path in (os.path.join(out_dir, "model.safetensors"), logits_path):
        os.chmod(path, 0o644)


def main() -> int:
    torch.set_num_threads(1)
    HQQLinear.set_backend(HQQBackend.PYTORCH)
    base = shared_layer()
    tensors = {"weight": base.weight.detach().clone(), "bias": base.bias.detach().clone()}
    cases = gen_layers(base, tensors) + gen_oft(base, tensors)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "hqq_layers.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              metadata={"generator": "tests/golden/gen_hqq.py", "cases": json.dumps(cases),
                        "versions": json.dumps(versions())})
    os.chmod(path, 0o644)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    gen_model()
    return 0


if __name__ == "__main__":
    sys.exit(main())
