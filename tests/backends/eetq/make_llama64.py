#!/usr/bin/env python3
"""Writes a tiny dense LLaMA whose linear layers fit EETQ's layout (in and out features multiples of 64; the
shared tests' LLaMA is 32 wide) for `oft quantize --method eetq` end to end. Standard library only, seeded:
  python3 make_llama64.py OUT_DIR
Random weights (Normal(0, 0.05)), fp32, one layer: hidden 64, intermediate 128, 4 heads of 16 (and 4 KV heads,
so k_proj/v_proj are 64 wide), vocabulary 64.
"""
import json
import random
import struct
import sys
from pathlib import Path

HIDDEN, INTERMEDIATE, HEADS, HEAD_DIM, VOCAB, LAYERS = 64, 128, 4, 16, 64, 1


def shapes() -> dict:
    tensors = {"model.embed_tokens.weight": [VOCAB, HIDDEN], "model.norm.weight": [HIDDEN],
               "lm_head.weight": [VOCAB, HIDDEN]}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            tensors[p + f"self_attn.{name}.weight"] = [HIDDEN, HEADS * HEAD_DIM]
        tensors[p + "mlp.gate_proj.weight"] = [INTERMEDIATE, HIDDEN]
        tensors[p + "mlp.up_proj.weight"] = [INTERMEDIATE, HIDDEN]
        tensors[p + "mlp.down_proj.weight"] = [HIDDEN, INTERMEDIATE]
        tensors[p + "input_layernorm.weight"] = [HIDDEN]
        tensors[p + "post_attention_layernorm.weight"] = [HIDDEN]
    return tensors


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    header, blobs, offset = {}, [], 0
    for name, shape in shapes().items():
        count = shape[0] * (shape[1] if len(shape) > 1 else 1)
        values = [1.0] * count if name.endswith("norm.weight") else [rng.gauss(0, 0.05) for _ in range(count)]
        blob = struct.pack(f"<{count}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    (out / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "dtype": "float32", "hidden_act": "silu",
        "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS, "head_dim": HEAD_DIM, "num_hidden_layers": LAYERS, "vocab_size": VOCAB,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_parameters": {"rope_theta": 10000.0,
                                                                                "rope_type": "default"},
        "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False, "bos_token_id": 1,
        "eos_token_id": 2, "pad_token_id": None,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
