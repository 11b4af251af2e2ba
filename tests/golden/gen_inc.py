#!/usr/bin/env python
"""Golden data for the inc backend plugin (plugins/inc), made with the REAL Intel Neural Compressor
(PyPI `neural-compressor-pt`, pinned in requirements/golden-inc.txt) on CPU, where it runs FP8 in QDQ mode:
FP8Config(use_qdq=True) -> prepare -> calibrate -> finalize_calibration -> convert -> save(format="huggingface").

Run from the repository root:

    .venv/bin/pip install -r requirements/golden-inc.txt
    .venv/bin/python tests/golden/gen_inc.py      # writes tests/golden/data/inc/inc_layers.safetensors

Per case, a tiny LlamaForCausalLM (hidden 32, intermediate 64, one layer, mlp_bias, bf16, seed 0: the same
float weights in every case) is calibrated on the same token batch, converted and saved by INC; the layer
model.layers.0.mlp.up_proj (in 32, out 64, with bias) is recorded:

  <case>/state/<key>   the layer's tensors exactly as INC's model.safetensors stores them: weight fp8 [in, out]
                       (transposed), bias bf16, dequant_weights.scale (0-d or [out]), quant_input.scale,
                       quant_input.scale_inv, and for scale_format "const" the zero points (fp32 0-d, 0.0)
  <case>/dequant       bf16 [in, out]: INC's own dequant_weights module applied to the fp8 weight
  <case>/x, y          bf16 input (5, 32) (one row 8x the calibration range, so the input quantizer saturates)
                       and PatchedLinear's QDQ forward
Shared: weight (bf16 [64, 32], the float up_proj weight INC quantized), bias, calibration (bf16 (24, 32): the
inputs up_proj saw during calibration, captured with a forward hook).
The generator asserts the scale formulas of INC's scale code (fp8_quant/_core/scale_methods: maxabs / (fullscale
* backoff), backoff 0.5 for weights and 0.25 for activations, optional pow2 rounding up, in bf16), which the
plugin's native quantizer reimplements.

oft/<field>: PEFT 0.21.2's OFT wrapped around the real PatchedLinear of case e4m3_pow2 (backend "inc"), adapter
weight Normal(0, 0.1) (init_weights=False), block size 16: adapter_weight, x (bf16), output (PEFT's forward),
grad (d sum(output.float()^2) / d adapter_weight).
Metadata "cases": per case its settings and the quantization_config INC wrote into config.json; "versions".
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import peer_cpu_path  # noqa: F401  before torch: the same CPU kernels (bf16 matmul) on every CPU
import torch
from safetensors.torch import load_file, save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "inc")
LAYER = "model.layers.0.mlp.up_proj"
FP8 = {"E4M3": torch.float8_e4m3fn, "E5M2": torch.float8_e5m2}
BACKOFF = {"weight": 0.5, "input": 0.25}

# name, fp8_config, scale_method, scale_format, per-channel weight scale, pow2 scales
CASES = [
    ("e4m3_pow2", "E4M3", "maxabs_pow2", "scalar", False, True),
    ("e4m3_arbitrary", "E4M3", "maxabs_arbitrary", "scalar", False, False),
    ("e5m2_pow2", "E5M2", "maxabs_pow2", "scalar", False, True),
    ("e4m3_pcs_const", "E4M3", "act_maxabs_pow2_weights_pcs_maxabs_pow2", "const", True, True),
]


def versions() -> dict:
    import neural_compressor.torch  # noqa: F401
    import peft
    import torchao
    import transformers
    from importlib.metadata import version

    return {"neural-compressor-pt": version("neural-compressor-pt"), "torch": torch.__version__,
            "torchao": torchao.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "cpu_path": peer_cpu_path.PINNED_CAPABILITY}


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                         num_key_value_heads=4, vocab_size=96, max_position_embeddings=64, mlp_bias=True)
    return LlamaForCausalLM(config).to(torch.bfloat16).eval()


def get(model, path):
    for part in path.split("."):
        model = getattr(model, part)
    return model


def expected_scale(maxabs: torch.Tensor, fp8: str, kind: str, pow2: bool) -> torch.Tensor:
    """INC's MaxAbs scale: maxabs (in bf16) / (fullscale * backoff), rounded up to a power of two for pow2."""
    s = maxabs.to(torch.bfloat16) / (torch.finfo(FP8[fp8]).max * BACKOFF[kind])
    return torch.exp2(torch.ceil(torch.log2(s))) if pow2 else s


def run_case(name, fp8, scale_method, scale_format, pcs, pow2, ids, tmp):
    from neural_compressor.torch.quantization import FP8Config, convert, finalize_calibration, prepare, save

    model = tiny_llama()
    weight, bias = get(model, LAYER).weight.detach().clone(), get(model, LAYER).bias.detach().clone()
    seen = []
    hook = get(model, LAYER).register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        model(ids)  # the float model: what up_proj sees during calibration
    hook.remove()
    calibration = torch.cat([s.reshape(-1, s.shape[-1]) for s in seen])
    config = FP8Config(use_qdq=True, fp8_config=fp8, scale_method=scale_method, scale_format=scale_format,
                       dump_stats_path=os.path.join(tmp, name, "stats"))
    model = prepare(model, config)
    with torch.no_grad():
        model(ids)
    finalize_calibration(model)
    model = convert(model)
    folder = os.path.join(tmp, name, "saved")
    save(model, folder, format="huggingface")
    state = {k[len(LAYER) + 1:]: v for k, v in load_file(os.path.join(folder, "model.safetensors")).items()
             if k.startswith(LAYER + ".")}
    quantization_config = json.load(open(os.path.join(folder, "config.json")))["quantization_config"]
    layer = get(model, LAYER)
    with torch.no_grad():
        dequant = layer.dequant_weights(layer.weight)
        x = torch.randn(5, 32).to(torch.bfloat16)
        x[2] = x[2] / x[2].abs().max() * calibration.abs().max() * 8  # beyond the input scale's range
        y = layer(x)

    # The scale formulas the native quantizer implements, checked against what INC computed.
    w_max = weight.abs().amax(dim=1) if pcs else weight.abs().max()
    s_w = expected_scale(w_max, fp8, "weight", pow2)
    if pcs:
        s_w = torch.maximum(s_w, torch.tensor(torch.finfo(torch.bfloat16).tiny))
    assert torch.equal(state["dequant_weights.scale"], s_w), name
    s_in = expected_scale(calibration.abs().max(), fp8, "input", pow2)
    assert torch.equal(state["quant_input.scale_inv"], torch.reciprocal(s_in)), name
    assert torch.equal(state["quant_input.scale"], torch.reciprocal(torch.reciprocal(s_in))), name
    # The weight codes: W * bf16(1 / s) in fp32, clamped (saturating) and cast.
    inv = torch.reciprocal(s_w).float()
    top = torch.finfo(FP8[fp8]).max
    codes = (weight.float() * (inv.view(-1, 1) if pcs else inv)).clamp(-top, top).to(FP8[fp8]).t()
    assert torch.equal(codes.view(torch.uint8), state["weight"].view(torch.uint8)), name
    # The forward: x / quant_input.scale in fp32, clamped and cast, times the scale, in bf16; matmul; bias.
    s = state["quant_input.scale"].float()
    qdq = ((x.float() / s).clamp(-top, top).to(FP8[fp8]).float() * s).to(torch.bfloat16)
    assert torch.equal(torch.matmul(qdq, dequant) + bias, y), name
    assert torch.equal(dequant, (state["weight"].float() * state["dequant_weights.scale"].float()).to(torch.bfloat16))

    tensors = {f"{name}/state/{k}": v for k, v in state.items()}
    tensors.update({f"{name}/dequant": dequant, f"{name}/x": x, f"{name}/y": y})
    meta = {"name": name, "fp8_config": fp8, "scale_method": scale_method, "scale_format": scale_format,
            "per_channel": pcs, "pow2": pow2, "state_keys": sorted(state), "quantization_config": quantization_config}
    return tensors, meta, model, (weight, bias, calibration)


def gen_oft(model, tensors):
    from peft import OFTConfig, get_peft_model

    torch.manual_seed(11)
    config = OFTConfig(target_modules=["up_proj"], oft_block_size=16, r=0, init_weights=False)
    peft_model = get_peft_model(model, config)
    oft = get(peft_model.base_model.model, LAYER)
    assert type(oft.base_layer).__name__ == "PatchedLinear", "PEFT did not wrap INC's layer itself"
    x = torch.randn(3, 32).to(torch.bfloat16)
    adapter = oft.oft_R["default"].weight
    output = oft(x)
    output.float().pow(2).sum().backward()
    tensors.update({"oft/adapter_weight": adapter.detach().clone(), "oft/x": x, "oft/output": output.detach(),
                    "oft/grad": adapter.grad.detach().clone()})
    return {"oft_block_size": 16, "adapter_dtype": str(adapter.dtype).split(".")[1]}


def main() -> int:
    torch.set_num_threads(1)
    tensors, cases, oft_meta = {}, [], None
    torch.manual_seed(1)
    ids = torch.randint(0, 96, (2, 12))
    tmp = tempfile.mkdtemp(prefix="gen_inc_")
    try:
        for spec in CASES:
            torch.manual_seed(2)
            case_tensors, meta, model, shared = run_case(*spec, ids, tmp)
            tensors.update(case_tensors)
            cases.append(meta)
            if spec[0] == "e4m3_pow2":
                oft_meta = gen_oft(model, tensors)
        tensors.update({"weight": shared[0], "bias": shared[1], "calibration": shared[2]})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for meta in cases:  # a temporary file INC names in its config
        meta["quantization_config"]["_json_file"] = None
        meta["quantization_config"]["dump_stats_path"] = "./hqt_output/measure"
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "inc_layers.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              metadata={"generator": "tests/golden/gen_inc.py", "cases": json.dumps(cases),
                        "oft": json.dumps(oft_meta), "versions": json.dumps(versions())})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
