#!/usr/bin/env python
"""OFT training over a bitsandbytes-quantized LLaMA-shaped model: `oft train` against PEFT + bitsandbytes on the
same CPU, the same checkpoint and the same rows (in another order), in one run.

    .venv/bin/python bench/train/compare_quantized_step.py [--method bnb-nf4|bnb-int8] [--steps 8] [--threads 2]
        [--dtype fp32|bf16] [--hidden 2048] [--layers 4] [--work DIR]

Makes a random LLaMA (hidden --hidden, --layers layers, 16 heads / 4 KV heads, intermediate 2.75x hidden, vocab
32000, fp32) with transformers, quantizes its linear layers with `oft quantize --method`, and trains OFT (block 32,
every linear layer of the blocks, AdamW lr 1e-3, batch 4 x 128 random token ids) for --steps steps with
`build/bin/oft train` and with PEFT over transformers + bitsandbytes (`tests/golden/peer_cpu_path.py` pins its CPU
path). Each runs in its own process; the table has seconds per step (the training loop's time: oft's
metrics.json train_seconds, PEFT's own clock) and each process's peak resident memory (wait4's ru_maxrss:
libraries, weights, activations).
Needs bitsandbytes, PEFT and transformers in the interpreter (`pip install -r requirements/golden-bnb.txt`, best in
a copy of .venv). Only the ratios within one run mean anything.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from measured_process import last_json_line, run_measured  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
BATCH, TOKENS, ROWS = 4, 128, 16
# --dtype as torch (and bnb_4bit_compute_dtype) names it
TORCH_DTYPE = {"fp32": "float32", "bf16": "bfloat16"}

PEFT_STEP = r"""
import sys
sys.path.insert(0, sys.argv[1])
import peer_cpu_path  # noqa: F401  (before torch)
import json, time
import torch
from transformers import AutoModelForCausalLM
from peft import OFTConfig, get_peft_model
model_dir, rows_file, steps, batch, targets = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, sys.argv[7]))
model = get_peft_model(model, OFTConfig(target_modules=targets.split(","), oft_block_size=32, r=0))
model.train()
rows = torch.tensor([json.loads(line)["input_ids"] for line in open(rows_file)])
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
start = time.perf_counter()
for step in range(steps):
    first = (step * batch) % len(rows)
    ids = rows[first:first + batch]
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    optimizer.zero_grad()
print(json.dumps({"seconds_per_step": (time.perf_counter() - start) / steps}))
"""


MAKE_MODEL = r"""
import json, random, sys
import torch
from transformers import LlamaConfig, LlamaForCausalLM
folder, hidden, layers, rows_file, rows, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
torch.manual_seed(0)
config = LlamaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=16, num_key_value_heads=4,
                     intermediate_size=int(hidden * 2.75), vocab_size=32000, max_position_embeddings=512,
                     tie_word_embeddings=False)
LlamaForCausalLM(config).float().save_pretrained(folder)
random.seed(0)
with open(rows_file, "w") as f:
    for _ in range(rows):
        f.write(json.dumps({"input_ids": [random.randrange(32000) for _ in range(tokens)]}) + "\n")
"""


def make_model(work: Path, hidden: int, layers: int, method: str, dtype: str, oft: Path) -> Path:
    """The quantized model folder, and train.jsonl beside it. In child processes: a child forked from a process
    holding the dense model would count its pages in its own peak memory. NF4 layers compute in --dtype (their
    bnb_4bit_compute_dtype), as bitsandbytes' do."""
    subprocess.run([sys.executable, "-c", MAKE_MODEL, str(work / "dense"), str(hidden), str(layers),
                    str(work / "train.jsonl"), str(ROWS), str(TOKENS)], check=True, capture_output=True)
    quantized = work / f"{method}-{dtype}"
    options = {"bnb_4bit_compute_dtype": TORCH_DTYPE[dtype]} if method == "bnb-nf4" else {}
    subprocess.run([str(oft), "quantize", "--model", str(work / "dense"), "--method", method, "--out", str(quantized),
                    "--options", json.dumps(options)], check=True, capture_output=True)
    return quantized


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="bnb-nf4", choices=["bnb-nf4", "bnb-int8"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"],
                        help="the non-quantized weights' and the computation's dtype (adapters stay fp32)")
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--work", type=Path, help="folder for the model and runs (default: a temporary one)")
    args = parser.parse_args()
    oft = ROOT / "build" / "bin" / "oft"
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        model = make_model(work, args.hidden, args.layers, args.method, args.dtype, oft)
        train = {"model": str(model), "task": "causal_lm", "data": {"train": "train.jsonl", "max_length": TOKENS},
                 "oft": {"target_modules": TARGETS, "oft_block_size": 32}, "optimizer": {"lr": 1e-3},
                 "batch_size": BATCH, "steps": args.steps, "seed": 0, "output_dir": str(work / "oft-run"),
                 "dtype": args.dtype}
        (work / "train.json").write_text(json.dumps(train))
        shutil.rmtree(work / "oft-run", ignore_errors=True)  # else it resumes a finished run
        oft_gib = run_measured([str(oft), "train", "--config", "train.json"], args.threads, work).peak_gib
        oft_step = json.loads((work / "oft-run" / "metrics.json").read_text())["train_seconds"] / args.steps
        peft = run_measured([sys.executable, "-c", PEFT_STEP, str(ROOT / "tests" / "golden"), str(model),
                             str(work / "train.jsonl"), str(args.steps), str(BATCH), ",".join(TARGETS),
                             TORCH_DTYPE[args.dtype]],
                            args.threads, work)
        peft_step = json.loads(last_json_line(peft.stdout))["seconds_per_step"]
    print(f"| {args.method}, {args.dtype}, hidden {args.hidden}, {args.layers} layers | oft | PEFT + bitsandbytes | oft / PEFT |")
    print("|---|---|---|---|")
    print(f"| seconds per step | {oft_step:.2f} | {peft_step:.2f} | {oft_step / peft_step:.2f} |")
    print(f"| peak resident memory, GiB | {oft_gib:.2f} | {peft.peak_gib:.2f} | {oft_gib / peft.peak_gib:.2f} |")


if __name__ == "__main__":
    main()
