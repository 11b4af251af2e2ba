#!/usr/bin/env python
"""Generate Hugging Face checkpoint golden data for oft's model architectures (core/src/models/) with the
REAL transformers library: tiny random models that transformers itself saves, and their outputs.

Run from the repository root (CPU only, a few seconds):

    .venv/bin/python tests/golden/gen_models.py            # writes tests/golden/data/models/hf/
    .venv/bin/python tests/golden/gen_models.py --out DIR  # somewhere else

Output layout:

  hf/<name>/                     what <Model>.save_pretrained(dir, ...) wrote (config.json, model.safetensors or
                                 model-0000x-of-0000y.safetensors + model.safetensors.index.json;
                                 generation_config.json removed)
  hf/<name>.expected.safetensors input_ids       int64 (3, 7), drawn after torch.manual_seed(1)
                                 attention_mask  int64 (3, 7): row 0 all ones, row 1 right-padded, row 2 left-padded
                                 output          the model's output (logits / last_hidden_state) for both, with the
                                                 model loaded by from_pretrained(dir) in the checkpoint's dtype
                                 output_nomask   the same for attention_mask=None
                                 output_fp32     (half-precision checkpoints) loaded with dtype=torch.float32
                                 metadata "cases" (JSON: class, output name, dtype, attn_implementation),
                                          "versions" (JSON), "generator"

Outputs at padded positions are recorded as transformers returns them, but they are implementation-defined for
left-padded rows of causal models (fully masked attention rows), so the C++ tests compare positions whose
attention_mask is 1 for decoders.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil

import safetensors
import safetensors.torch
import torch
import transformers
from transformers import (BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

VOCAB = 64


def cases():
    # (name, config, model class, save kwargs, save dtype)
    return [
        ("bert", BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=48, max_position_embeddings=32, type_vocab_size=2),
         BertModel, {}, torch.float32),
        ("gpt2", GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=32),
         GPT2LMHeadModel, {}, torch.float32),
        # sharded (small max_shard_size), GQA 4 query heads on 2 key/value heads
        ("llama_sharded", LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
                                      rope_parameters={"rope_type": "default", "rope_theta": 500000.0}),
         LlamaForCausalLM, {"max_shard_size": "40KB"}, torch.float32),
        # Llama 3.1 RoPE scaling (original context 16, so every branch of the frequency rule is taken), tied
        ("llama3_rope", LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                                    rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                     "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                     "original_max_position_embeddings": 16}),
         LlamaForCausalLM, {}, torch.float32),
        ("llama_linear_rope", LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=4,
                                          rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}),
         LlamaForCausalLM, {}, torch.float32),
        # fp16 checkpoint, sliding window larger than the inputs
        ("mistral_fp16", MistralConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2, sliding_window=16),
         MistralForCausalLM, {}, torch.float16),
        # sliding window shorter than the inputs (checked below to change the outputs)
        ("mistral_window", MistralConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, sliding_window=3),
         MistralForCausalLM, {}, torch.float32),
        # bf16 checkpoint, q/k/v bias, one key/value head, tied embeddings
        ("qwen2_bf16", Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True),
         Qwen2ForCausalLM, {}, torch.bfloat16),
    ]


def versions():
    return {"transformers": transformers.__version__, "torch": torch.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def inputs():
    torch.manual_seed(1)
    ids = torch.randint(0, VOCAB, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.int64)
    mask[1, 5:] = 0  # right padding
    mask[2, :3] = 0  # left padding
    return ids, mask


def run(model, ids, mask, output_name):
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask)
    return getattr(out, output_name).detach().clone().contiguous()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models"))
    out_root = os.path.join(parser.parse_args().out, "hf")
    os.makedirs(out_root, exist_ok=True)
    ids, mask = inputs()
    for name, config, cls, save_kwargs, dtype in cases():
        torch.manual_seed(0)
        model = cls(config).eval()
        # Random init makes norms 1/0 and biases 0: perturb them so the checkpoint exercises every tensor.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if "norm" in pname.lower() or pname.endswith("bias") or "ln_" in pname:
                    p.add_(torch.randn_like(p) * 0.1)
        model = model.to(dtype)
        folder = os.path.join(out_root, name)
        shutil.rmtree(folder, ignore_errors=True)
        model.save_pretrained(folder, **save_kwargs)
        gen = os.path.join(folder, "generation_config.json")
        if os.path.exists(gen):
            os.remove(gen)

        output_name = "last_hidden_state" if cls is BertModel else "logits"
        loaded = cls.from_pretrained(folder).eval()  # checkpoint dtype, transformers' default attention
        assert loaded.dtype == dtype, (name, loaded.dtype)
        tensors = {"input_ids": ids, "attention_mask": mask,
                   "output": run(loaded, ids, mask, output_name),
                   "output_nomask": run(loaded, ids, None, output_name)}
        if getattr(config, "sliding_window", None) and config.sliding_window < ids.shape[1]:
            unwindowed = cls.from_pretrained(folder, sliding_window=None).eval()
            assert not torch.allclose(run(unwindowed, ids, mask, output_name), tensors["output"]), name
        rope = getattr(config, "rope_parameters", None) or {}
        if rope.get("rope_type", "default") != "default":  # the scaling must matter for these inputs
            plain = cls.from_pretrained(folder, rope_parameters={"rope_type": "default", "rope_theta": rope["rope_theta"]})
            assert not torch.allclose(run(plain.eval(), ids, mask, output_name), tensors["output"]), name
        if dtype != torch.float32:
            loaded32 = cls.from_pretrained(folder, dtype=torch.float32).eval()
            tensors["output_fp32"] = run(loaded32, ids, mask, output_name)
        case = {"class": cls.__name__, "output_name": output_name, "dtype": str(dtype).replace("torch.", ""),
                "attn_implementation": loaded.config._attn_implementation,
                "save_kwargs": save_kwargs}
        safetensors.torch.save_file(
            tensors, os.path.join(out_root, name + ".expected.safetensors"),
            metadata={"cases": json.dumps(case), "versions": json.dumps(versions()),
                      "generator": "tests/golden/gen_models.py"})
        print(name, sorted(os.listdir(folder)), case)


if __name__ == "__main__":
    main()
