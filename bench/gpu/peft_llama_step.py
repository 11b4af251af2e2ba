#!/usr/bin/env python3
"""PEFT on a LLaMA-shaped model, one training step: the peer of bench_gpu_llama_step (same definitions).

    python3 bench/gpu/peft_llama_step.py --config bench/gpu/configs/llama-1.1b.json [--device cuda]
        [--dtype bf16] [--batch 8] [--seq 1024] [--block 32] [--lora-r 16] [--steps 5] [--only NAME,...] [--small]

transformers' LlamaForCausalLM built from --config with random weights directly in --dtype on --device
(no checkpoint), frozen. For each adapter (PEFT OFT block --block and LoRA r=--lora-r, alpha 2r, dropout 0,
on q_proj,v_proj and on all-linear): get_peft_model (adapters fp32, PEFT's autocast_adapter_dtype default),
AdamW(lr 1e-4) over the trainable parameters, a batch of --batch x --seq random token ids with labels =
input_ids (transformers shifts them and computes the loss in fp32). One step = zero_grad(set_to_none),
forward with labels, backward, optimizer step, timed whole with CUDA events after 2 warm-up steps; the
median of --steps steps, tokens/s = batch*seq / median, and torch.cuda.max_memory_allocated since the
adapter was added (weights included). The adapter is unloaded before the next one.
Prints one JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import torch

from bench_timing import DTYPES, heap_in_use_gib, measure, measurement, versions

ADAPTERS = ("oft_qv", "oft_all_linear", "lora_qv", "lora_all_linear")


def peft_config(name: str, a):
    import peft

    targets = ["q_proj", "v_proj"] if name.endswith("_qv") else "all-linear"
    if name.startswith("oft"):
        return peft.OFTConfig(target_modules=targets, r=0, oft_block_size=a.block, task_type="CAUSAL_LM")
    return peft.LoraConfig(target_modules=targets, r=a.lora_r, lora_alpha=2 * a.lora_r, lora_dropout=0.0,
                           task_type="CAUSAL_LM")


def bench_adapter(name: str, base, a, device: torch.device, out: dict) -> None:
    import peft

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = peft.get_peft_model(base, peft_config(name, a))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    torch.manual_seed(0)
    ids = torch.randint(base.config.vocab_size, (a.batch, a.seq), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        # No KV cache, as in oft's step: a training step has no use for one, and building it costs time.
        model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
        optimizer.step()

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    median_ms, samples = measure(step, device, warmup=2, min_samples=a.steps, budget_s=0.0)
    prefix = f"llama_step.{name}."
    out["measurements"].append(measurement(prefix + "step", median_ms, "ms", samples))
    out["measurements"].append(measurement(prefix + "tokens_per_s", 1000.0 * a.batch * a.seq / median_ms, "tokens/s"))
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        out["measurements"].append(measurement(prefix + "peak_memory", peak, "GiB"))
    if device.type == "cpu":  # what a forward and the loss keep for the backward, on the C heap
        optimizer.zero_grad(set_to_none=True)
        before = heap_in_use_gib()
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        out["measurements"].append(measurement(prefix + "forward_held_memory", heap_in_use_gib() - before, "GiB"))
        loss.backward()
        del loss
    out.setdefault("trainable_parameters", {})[name] = sum(p.numel() for p in trainable)
    print(f"[peft_llama_step] {name}: {median_ms:.1f} ms/step ({samples} steps)", file=sys.stderr)
    del optimizer
    model.unload()  # the base layers back, for the next adapter


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="bench/gpu/configs/llama-1.1b.json")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--block", type=int, default=None)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--only", default=",".join(ADAPTERS), help="comma list of " + ", ".join(ADAPTERS))
    ap.add_argument("--small", action="store_true", help="batch 2 x 32 tokens, block 16 (CPU smoke runs)")
    a = ap.parse_args()
    a.batch = a.batch or (2 if a.small else 8)
    a.seq = a.seq or (32 if a.small else 1024)
    a.block = a.block or (16 if a.small else 32)
    a.steps = a.steps or (2 if a.small else 5)
    device = torch.device(a.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", 0)
    out = {
        "bench": "llama_step",
        "impl": "peft",
        "device": str(device),
        "dtype": a.dtype,
        "versions": versions(),
        "config": {"model_config": a.config, "batch": a.batch, "seq": a.seq, "block": a.block, "lora_r": a.lora_r,
                   "optimizer": "AdamW lr 1e-4", "adapter_dtype": "fp32", "warmup_steps": 2, "timed_steps": a.steps},
        "measurements": [],
        "errors": [],
    }
    try:
        import transformers

        with open(a.config) as f:
            config = transformers.LlamaConfig(**json.load(f))
        torch.manual_seed(0)
        with device, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base = transformers.LlamaForCausalLM(config).to(DTYPES[a.dtype])
        base.requires_grad_(False)
        for name in a.only.split(","):
            try:
                bench_adapter(name, base, a, device, out)
            except Exception as e:  # noqa: BLE001 -- e.g. out of memory: the other adapters still run
                out["errors"].append(f"{name}: {type(e).__name__}: {e}")
            print(json.dumps(out), flush=True)  # a snapshot per adapter: a run cut short keeps what it measured
    except Exception as e:  # noqa: BLE001 -- reported in the JSON, which gpu-check.sh collects
        out["errors"].append(f"{type(e).__name__}: {e}")
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
