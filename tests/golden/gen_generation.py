#!/usr/bin/env python
"""Generate golden data for oft's KV-cached generation (core/include/oft/hf/generation.h) with the REAL
transformers generate() and PEFT: greedy continuations of fixed prompt ids by the tiny checkpoints of
tests/golden/data/models/hf/ (written by gen_models.py), with and without a PEFT OFT adapter.

Run from the repository root (CPU only, a few seconds):

    .venv/bin/python tests/golden/gen_generation.py            # writes tests/golden/data/generation/
    .venv/bin/python tests/golden/gen_generation.py --out DIR  # somewhere else

Output layout:

  generation/adapters/<case>/    what PeftModel.save_pretrained wrote for adapter "default" (OFTConfig with
                                 init_weights=False after torch.manual_seed(0): a random rotation; PEFT writes
                                 target_modules from a set, so their order varies between runs)
  generation/expected.json       "versions", "generator" and "cases": each {name, model (folder under models/hf),
                                 adapter (folder under generation/adapters or null), prompt_ids, max_new_tokens,
                                 eos_token_ids (what generate() was given), new_ids (the continuation),
                                 min_margin (smallest top-1 minus top-2 logit over the steps: how far greedy
                                 is from a tie)}; eos_token_ids [] leaves transformers the model's own, which
                                 those continuations do not contain
                                 "warpers": each {temperature, top_k, top_p, logits (16 floats drawn after
                                 torch.manual_seed(2)), expected (the warped logits, null where -inf)}: transformers'
                                 Temperature-, TopK-, TopPLogitsWarper in generate()'s order
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil

import peft
import torch
import transformers
from peft import OFTConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "data", "models", "hf")

PROMPT = [5, 17, 33, 9, 41, 12]
MAX_NEW = 20

# (PEFT's OFT does not take GPT-2's Conv1D, so GPT-2 runs without an adapter.)
# name, model folder, OFTConfig kwargs (None: no adapter), eos ids ("first": the 6th token of the plain run).
CASES = [
    ("gpt2", "gpt2", None, None),
    ("llama", "llama_sharded", None, None),
    ("llama_oft", "llama_sharded", dict(target_modules=["q_proj", "v_proj", "down_proj"], oft_block_size=8, r=0),
     None),
    ("mistral_window", "mistral_window", None, None),
    ("mistral_window_oft", "mistral_window", dict(target_modules="all-linear", oft_block_size=8, r=0), None),
    ("qwen2_bf16", "qwen2_bf16", None, None),
    ("llama_eos", "llama_sharded", None, "first"),
]


def versions() -> dict:
    return {
        "torch": torch.__version__,
        "peft": peft.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def load(model_dir: str) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS, model_dir))
    return model.eval()


def greedy(model, eos: list[int] | None) -> tuple[list[int], float]:
    ids = torch.tensor([PROMPT])
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=MAX_NEW,
        eos_token_id=eos if eos else None,
        pad_token_id=0,
        output_logits=True,
        return_dict_in_generate=True,
    )
    margins = [float((lambda t: t[0] - t[1])(s[0].float().topk(2).values)) for s in out.logits]
    return out.sequences[0, len(PROMPT):].tolist(), min(margins)


WARPER_SETTINGS = [(1.0, 0, 0.75), (0.7, 5, 1.0), (1.3, 6, 0.6), (0.5, 0, 0.9), (2.0, 1, 1.0)]


def warpers() -> list[dict]:
    torch.manual_seed(2)
    logits = torch.randn(1, 16)
    out = []
    for temperature, top_k, top_p in WARPER_SETTINGS:
        scores = logits.clone()
        if temperature != 1.0:
            scores = TemperatureLogitsWarper(temperature)(None, scores)
        if top_k > 0:
            scores = TopKLogitsWarper(top_k)(None, scores)
        if top_p < 1.0:
            scores = TopPLogitsWarper(top_p)(None, scores)
        expected = [None if v == float("-inf") else v for v in scores[0].tolist()]
        out.append(dict(temperature=temperature, top_k=top_k, top_p=top_p, logits=logits[0].tolist(), expected=expected))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(HERE, "data", "generation"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(os.path.join(args.out, "adapters"))
    plain: dict[str, list[int]] = {}
    cases = []
    for name, model_dir, oft_kwargs, eos_rule in CASES:
        model = load(model_dir)
        adapter = None
        if oft_kwargs is not None:
            torch.manual_seed(0)
            model = get_peft_model(model, OFTConfig(init_weights=False, **oft_kwargs)).eval()
            adapter = name
            path = os.path.join(args.out, "adapters", name)
            model.save_pretrained(path)
            os.remove(os.path.join(path, "README.md"))  # PEFT's model card, not needed to load
            # Generate with the adapter as a reader loads it (what `oft generate --adapter` does).
            model = PeftModel.from_pretrained(load(model_dir), path).eval()
        eos = [plain[model_dir][5]] if eos_rule == "first" else []
        with torch.no_grad():
            new_ids, margin = greedy(model, eos)
        if oft_kwargs is None and not eos:
            plain[model_dir] = new_ids
        cases.append(dict(name=name, model=model_dir, adapter=adapter, prompt_ids=PROMPT, max_new_tokens=MAX_NEW,
                          eos_token_ids=eos, new_ids=new_ids, min_margin=margin))
        print(f"{name}: {new_ids} (min margin {margin:.3g})")
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(dict(generator="tests/golden/gen_generation.py", versions=versions(), cases=cases, warpers=warpers()),
                  f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
