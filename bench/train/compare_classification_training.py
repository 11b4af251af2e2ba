#!/usr/bin/env python
"""The main job's training against PEFT on this CPU: OFT (block 32 on query and value) on all-MiniLM-L6-v2 with a
mean-pooled linear head, AdamW (adapters at lr 5e-3, the head at 1e-3), batches of 16 from
data/review_sentiment/train.jsonl, as `oft train --config` runs it and as a PEFT + transformers loop does the same
(the same MeanPoolClassifier as tests/app/cli_interop.py, the head as modules_to_save, every text tokenized once and
padded to the longest, as oft does). A benchmark, not a test.

Each round runs both once, in turns, each in a fresh process; the first round is a warm-up and is left out. The
table has medians of the training loop's time per step (oft's metrics.json train_seconds; the PEFT loop's own
clock; tokenizing and loading excluded from both) and of the whole process's wall time, with the ratios oft / PEFT,
and each side's final loss (the mean of the last 10 steps) to show both trained.

    .venv/bin/python bench/train/compare_classification_training.py [--oft build/bin/oft] [--steps 60] \
        [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "data", "review_sentiment")
BATCH, LR, HEAD_LR, BLOCK, MAX_LENGTH = 16, 5e-3, 1e-3, 32, 64

PEFT_TRAIN = """
import json, sys, time
import peft, torch, transformers
from peft import OFTConfig, get_peft_model
from transformers import AutoModel, AutoTokenizer

model_dir, train_file, labels_file, steps, batch, lr, head_lr, block, max_length = sys.argv[1:10]
steps, batch, block, max_length, lr, head_lr = int(steps), int(batch), int(block), int(max_length), float(lr), float(head_lr)


class MeanPoolClassifier(torch.nn.Module):
    def __init__(self, encoder, labels):
        super().__init__()
        self.bert = encoder
        self.classifier = torch.nn.Linear(encoder.config.hidden_size, labels)

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return self.classifier((hidden * m).sum(1) / m.sum(1).clamp_min(1e-9))


torch.manual_seed(0)
names = json.load(open(labels_file))
rows = [json.loads(line) for line in open(train_file) if line.strip()]
labels = torch.tensor([r["label"] if isinstance(r["label"], int) else names.index(r["label"]) for r in rows])
tokens = AutoTokenizer.from_pretrained(model_dir)([r["text"] for r in rows], padding=True, truncation=True,
                                                  max_length=max_length, return_tensors="pt")
model = MeanPoolClassifier(AutoModel.from_pretrained(model_dir, dtype=torch.float32), len(names))
config = OFTConfig(r=0, oft_block_size=block, target_modules=["query", "value"], modules_to_save=["classifier"])
model = get_peft_model(model, config)
model.train()
adapters = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" not in n]
head = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" in n]
optimizer = torch.optim.AdamW([{"params": adapters, "lr": lr}, {"params": head, "lr": head_lr}], weight_decay=0.0)
epochs = -(-steps * batch // len(rows))
order, losses = torch.cat([torch.randperm(len(rows)) for _ in range(epochs)]), []
start = time.perf_counter()
for step in range(steps):
    index = order[step * batch:(step + 1) * batch]
    loss = torch.nn.functional.cross_entropy(model(tokens["input_ids"][index], tokens["attention_mask"][index]),
                                             labels[index])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
seconds = time.perf_counter() - start
print(json.dumps({"train_seconds": seconds, "final_loss": sum(losses[-10:]) / len(losses[-10:]),
                  "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}))
"""


def run_timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(seconds from start to exit, standard output) of one process; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return seconds, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oft", default=os.path.join(REPO, "build", "bin", "oft"))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds after one warm-up round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model_dir = subprocess.run(["bash", os.path.join(REPO, "scripts", "fetch_minilm.sh")], check=True,
                               capture_output=True, text=True).stdout.strip()
    train_file, labels_file = os.path.join(DATA, "train.jsonl"), os.path.join(DATA, "labels.json")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))

    step_ms: dict[str, list[float]] = {"oft": [], "PEFT": []}
    wall: dict[str, list[float]] = {"oft": [], "PEFT": []}
    loss: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="oft-cls-bench-") as work:
        config = os.path.join(work, "train.json")
        with open(config, "w") as f:
            json.dump({"model": model_dir, "task": "sequence_classification",
                       "data": {"train": train_file, "labels": json.load(open(labels_file)),
                                "max_length": MAX_LENGTH},
                       "oft": {"target_modules": ["query", "value"], "oft_block_size": BLOCK, "r": 0},
                       "optimizer": {"lr": LR, "head_lr": HEAD_LR, "weight_decay": 0.0},
                       "batch_size": BATCH, "steps": args.steps, "seed": 0, "output_dir": os.path.join(work, "run"),
                       "resume": False}, f)
        commands = {
            "oft": [args.oft, "--log-level", "warn", "train", "--config", config],
            "PEFT": [sys.executable, "-c", PEFT_TRAIN, model_dir, train_file, labels_file, str(args.steps),
                     str(BATCH), str(LR), str(HEAD_LR), str(BLOCK), str(MAX_LENGTH)],
        }
        for round_index in range(args.rounds + 1):
            measured = {}
            for name, command in commands.items():
                seconds, stdout = run_timed(command, env)
                if name == "oft":
                    with open(os.path.join(work, "run", "metrics.json")) as f:
                        result = json.load(f)
                else:
                    result = json.loads(stdout.strip().splitlines()[-1])
                    versions = {k: result[k] for k in ("torch", "transformers", "peft")}
                measured[name] = (1000 * result["train_seconds"] / args.steps, seconds)
                loss[name] = result["final_loss"]
            if round_index > 0:
                for name, (ms, seconds) in measured.items():
                    step_ms[name].append(ms)
                    wall[name].append(seconds)
            label = "warm-up" if round_index == 0 else f"round {round_index}"
            print(f"{label}: " + ", ".join(f"{n} {ms:.1f} ms/step, {s:.2f} s" for n, (ms, s) in measured.items()),
                  flush=True)

    ms = {name: statistics.median(v) for name, v in step_ms.items()}
    seconds = {name: statistics.median(v) for name, v in wall.items()}
    print(f"\n{args.steps} steps of {BATCH}; {args.threads} threads; torch {versions['torch']}, transformers "
          f"{versions['transformers']}, peft {versions['peft']}")
    print("| | training step ms (median) | process wall s (median) | final loss |\n|---|---|---|---|")
    for name in commands:
        print(f"| {name} | {ms[name]:.1f} | {seconds[name]:.2f} | {loss[name]:.3f} |")
    print(f"| oft / PEFT | {ms['oft'] / ms['PEFT']:.3f} | {seconds['oft'] / seconds['PEFT']:.3f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
