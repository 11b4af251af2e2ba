#!/usr/bin/env python
"""Start-up on this CPU: a fresh process that loads a model folder and an OFT adapter, runs one forward and
writes the output, as `oft forward` does it and as PEFT + transformers do it (AutoModel.from_pretrained,
PeftModel.from_pretrained, one forward under no_grad, safetensors out). A benchmark, not a test.

Each round runs both commands once, in turns (the first round warms the page cache and is left out); the table has
the medians of wall time (process start to exit) and of peak resident memory (wait4's ru_maxrss, libraries
included), and the ratios oft / PEFT. Both outputs are compared, so the two did the same work.

    .venv/bin/python bench/hf/startup_bench.py [--oft build/bin/oft] [--model DIR] [--rounds 5] [--threads 2]

--model defaults to the main job's MiniLM (scripts/fetch_minilm.sh); the adapter is PEFT's OFT (block 32 on
query and value, random rotations) saved by PEFT into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench"))
from measured_process import in_turns, run_measured  # noqa: E402

# The PEFT side, run in a fresh interpreter: what a Python user's script does to get the same output.
PEFT_FORWARD = """
import sys
import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import AutoModel

model_dir, adapter_dir, input_file, output_file = sys.argv[1:5]
inputs = load_file(input_file)
model = PeftModel.from_pretrained(AutoModel.from_pretrained(model_dir), adapter_dir).eval()
with torch.no_grad():
    out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
save_file({"last_hidden_state": out.float().contiguous()}, output_file)
"""


# importlib.util.find_spec answers None for a module that sys.modules maps to None: it looks not installed.
WITHOUT_BITSANDBYTES = "import sys; sys.modules['bitsandbytes'] = None\n"


# The adapter and the input, made in a child too (measured_process.py says why).
MAKE_ADAPTER_AND_INPUT = """
import json, os, sys
import peft, torch, transformers
from peft import OFTConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModel

model_dir, work, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
config = OFTConfig(r=0, oft_block_size=32, target_modules=["query", "value"], init_weights=False)
model = get_peft_model(AutoModel.from_pretrained(model_dir), config)
model.save_pretrained(os.path.join(work, "adapter"))
ids = torch.randint(1000, model.config.vocab_size, (2, tokens), dtype=torch.int64)
mask = torch.ones(2, tokens, dtype=torch.int64)
mask[1, tokens // 2 :] = 0
save_file({"input_ids": ids, "attention_mask": mask}, os.path.join(work, "input.safetensors"))
print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oft", default=os.path.join(REPO, "build", "bin", "oft"))
    parser.add_argument("--model", help="a BERT-family model folder (default: the main job's MiniLM)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds after one warm-up round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    model_dir = args.model or subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "fetch_minilm.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()

    from safetensors.numpy import load_file

    with tempfile.TemporaryDirectory(prefix="oft-startup-") as work:
        made = subprocess.run([sys.executable, "-c", MAKE_ADAPTER_AND_INPUT, model_dir, work, str(args.tokens)],
                              check=True, capture_output=True, text=True)
        versions = json.loads(made.stdout.strip().splitlines()[-1])
        adapter, input_file = os.path.join(work, "adapter"), os.path.join(work, "input.safetensors")
        out_oft, out_peft = os.path.join(work, "oft.safetensors"), os.path.join(work, "peft.safetensors")
        commands = {
            "oft": [args.oft, "--log-level", "warn", "forward", "--model", model_dir, "--adapter", adapter,
                    "--input", input_file, "--output", out_oft],
            "PEFT": [sys.executable, "-c", PEFT_FORWARD, model_dir, adapter, input_file, out_peft],
            # The same where bitsandbytes is not installed: PEFT and transformers import it when it is (about 1 s).
            "PEFT, no bnb": [sys.executable, "-c", WITHOUT_BITSANDBYTES + PEFT_FORWARD, model_dir, adapter, input_file,
                             out_peft],
        }
        runs = in_turns(list(commands), args.rounds, lambda name: run_measured(commands[name], args.threads),
                        lambda run: f"{run.seconds:.3f} s")
        a, b = load_file(out_oft)["last_hidden_state"], load_file(out_peft)["last_hidden_state"]
        difference = float(abs(a - b).max())

    median = {name: statistics.median(run.seconds for run in rounds) for name, rounds in runs.items()}
    peak = {name: statistics.median(run.peak_gib for run in rounds) for name, rounds in runs.items()}
    print(f"\nmodel {model_dir}\nadapter: PEFT OFT block 32 on query, value; input 2 x {args.tokens} tokens; "
          f"{args.threads} threads; torch {versions['torch']}, transformers {versions['transformers']}, "
          f"peft {versions['peft']}; largest output difference {difference:.2e}")
    print("| process | wall s (median) | peak memory GiB (median) |\n|---|---|---|")
    for name in commands:
        print(f"| {name} | {median[name]:.3f} | {peak[name]:.3f} |")
    for peer in ("PEFT", "PEFT, no bnb"):
        print(f"| oft / {peer} | {median['oft'] / median[peer]:.3f} | {peak['oft'] / peak[peer]:.3f} |")
    return 0 if difference < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
