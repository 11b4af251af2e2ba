#!/usr/bin/env python3
"""INC itself loads a checkpoint that `oft quantize --method inc-fp8` wrote: neural_compressor's
load(dir, format="huggingface", device="cpu") on the oft-written tiny LLaMA (a bf16 copy of --model), then its logits against
`oft forward` on the same folder. Exits 77 (skipped) when neural_compressor is not installed.

    inc_interop.py --oft build/bin/oft --python .venv/bin/python --model <dense llama folder> --work <dir>
        [--options '{"fp8_config": "E5M2"}'] [--max-error 0.02]
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PEER = r"""
import json, sys, warnings
import torch
from safetensors.torch import load_file, save_file
from neural_compressor.torch.quantization import load
torch.set_num_threads(1)
folder, inputs, out = sys.argv[1:4]
model = load(folder, format="huggingface", device="cpu")
patched = sorted({type(m).__name__ for m in model.modules() if "Patched" in type(m).__name__})
with torch.no_grad():
    logits = model(input_ids=load_file(inputs)["input_ids"]).logits
save_file({"logits": logits.float().contiguous()}, out)
print(json.dumps({"patched": patched}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--oft", required=True)
    p.add_argument("--python", required=True)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--options", default="")
    p.add_argument("--max-error", type=float, default=0.02)
    a = p.parse_args()
    if not Path(a.python).exists() or subprocess.run([a.python, "-c", "import neural_compressor.torch"],
                                                     capture_output=True).returncode != 0:
        print("SKIP: neural_compressor is not installed")
        return 77
    a.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OFT_PLUGIN_CACHE=str(a.work / "scan-cache.json"))

    def run(*args: object) -> str:
        done = subprocess.run([*map(str, args)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"FAIL: {' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr[-4000:]}")
        return done.stdout

    # INC computes its layers in bf16 (hp_dtype) and feeds bf16 outputs on, so it runs bf16 models: a bf16 copy.
    dense = a.work / "dense_bf16"
    run(a.python, "-c", "import sys, torch, transformers; transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1])"
        ".to(torch.bfloat16).save_pretrained(sys.argv[2])", a.model, dense)
    make_inputs = ("import torch; from safetensors.torch import save_file; g = torch.Generator().manual_seed(0); "
                   "save_file({'input_ids': torch.randint(0, %d, (8, 32), generator=g)}, '%s'); "
                   "save_file({'input_ids': torch.randint(0, %d, (2, 16), generator=g)}, '%s')")
    vocab = json.loads((a.model / "config.json").read_text())["vocab_size"]
    run(a.python, "-c", make_inputs % (vocab, a.work / "calibration.safetensors", vocab, a.work / "input.safetensors"))
    quantized = a.work / "quantized"
    args = [a.oft, "--log-level", "warn", "quantize", "--model", dense, "--method", "inc-fp8", "--out", quantized,
            "--calibration", a.work / "calibration.safetensors"]
    run(*(args + (["--options", a.options] if a.options else [])))
    run(a.oft, "--log-level", "warn", "forward", "--model", quantized, "--input", a.work / "input.safetensors",
        "--output", a.work / "oft.safetensors")
    report = json.loads(run(a.python, "-c", PEER, quantized, a.work / "input.safetensors", a.work / "inc.safetensors")
                        .strip().splitlines()[-1])
    if report["patched"] != ["PatchedLinear"]:
        sys.exit(f"FAIL: INC's load made {report['patched']}, expected PatchedLinear layers")
    compare = ("import sys; from safetensors.torch import load_file; o = load_file(sys.argv[1])['logits']; "
               "i = load_file(sys.argv[2])['logits']; print(((o - i).abs().max() / i.abs().max()).item())")
    error = float(run(a.python, "-c", compare, a.work / "oft.safetensors", a.work / "inc.safetensors"))
    if not error <= a.max_error:
        sys.exit(f"FAIL: oft's and INC's logits on the oft-written checkpoint differ by {error:.3e} (relative max), "
                 f"expected <= {a.max_error}")
    print(f"INC loaded the oft-written inc-fp8 checkpoint; logits within {error:.2e} relative of oft's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
