"""Loads a folder written by oft::models::save_pretrained with transformers and checks that nothing was
missing or unexpected and that transformers' output matches the C++ one (at unpadded positions).

usage: hf_load_check.py MODEL_DIR IO_SAFETENSORS RTOL    (exit status 0: ok)
"""
import sys

import safetensors.torch
import torch
import transformers

model_dir, io_path, rtol = sys.argv[1], sys.argv[2], float(sys.argv[3])
config = transformers.AutoConfig.from_pretrained(model_dir)
cls = getattr(transformers, config.architectures[0])
model, info = cls.from_pretrained(model_dir, output_loading_info=True)
problems = {k: v for k, v in info.items() if v}
if problems:
    sys.exit(f"{model_dir}: transformers reports {problems}")
io = safetensors.torch.load_file(io_path)
with torch.no_grad():
    out = model.eval()(input_ids=io["input_ids"], attention_mask=io["attention_mask"])
out = out.logits if hasattr(out, "logits") else out.last_hidden_state
keep = io["attention_mask"].bool()
expected, actual = out[keep].double(), io["output"][keep].double()
err = ((actual - expected).abs().max() / expected.abs().max()).item()
if out.dtype != io["output"].dtype or err > rtol:
    sys.exit(f"{model_dir}: dtype {out.dtype} vs {io['output'].dtype}, relative error {err} > {rtol}")
print(f"{model_dir}: transformers loads it, relative error {err:.3g}")
