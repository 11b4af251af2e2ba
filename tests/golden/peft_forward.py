#!/usr/bin/env python
"""Runs a test model with an adapter directory through the real PEFT and writes the output.

    PYTHONHASHSEED=0 .venv/bin/python tests/golden/peft_forward.py MODEL ADAPTER_DIR OUT.safetensors

MODEL is one of the models of gen_oft_models.py (mlp, conv, emb, tiny_lm); its base weights and
input come from tests/golden/data/models/<MODEL>/. The adapter is loaded with
PeftModel.from_pretrained, the model runs in eval mode, and OUT gets the tensor "output".
Used by the C++ interop test: an adapter saved by oft must load in PEFT and give oft's outputs.
"""
import os
import sys

from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_oft_models as models  # noqa: E402  (needs PYTHONHASHSEED=0 set, or it re-executes itself)

import torch  # noqa: E402
from peft import PeftModel  # noqa: E402


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    model_name, adapter_dir, out = sys.argv[1:]
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models", model_name)
    base = models.MODEL_CLASSES[model_name]()
    base.load_state_dict(load_file(os.path.join(data, "base.safetensors")))
    x = load_file(os.path.join(data, "input.safetensors"))["input"]
    model = PeftModel.from_pretrained(base, adapter_dir).eval()
    with torch.no_grad():
        save_file({"output": model(x).contiguous()}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
