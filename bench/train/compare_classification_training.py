#!/usr/bin/env python
"""The main job's training against PEFT on this CPU: OFT (block 32 on query and value) on all-MiniLM-L6-v2 with a
mean-pooled linear head, AdamW (adapters at lr 5e-3, the head at 1e-3), batches of 16 from
data/review_sentiment/train.jsonl, as `oft train --config` runs it and as a PEFT + transformers loop does the same
(tests/app/mean_pool_classifier.py, as the interop test uses it, the head as modules_to_save, every text tokenized once and
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

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench"))
from measured_process import in_turns, last_json_line, run_measured  # noqa: E402

DATA = os.path.join(REPO, "data", "review_sentiment")
BATCH, LR, HEAD_LR, BLOCK, MAX_LENGTH = 16, 5e-3, 1e-3, 32, 64

PEFT_TRAIN = """
import json, sys, time
import peft, torch, transformers
from peft import OFTConfig, get_peft_model
from transformers import AutoModel, AutoTokenizer

sys.path.insert(0, sys.argv[1])
from mean_pool_classifier import MeanPoolClassifier

model_dir, train_file, labels_file, steps, batch, lr, head_lr, block, max_length = sys.argv[2:11]
steps, batch, block, max_length, lr, head_lr = int(steps), int(batch), int(block), int(max_length), float(lr), float(head_lr)


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
            "PEFT": [sys.executable, "-c", PEFT_TRAIN, os.path.join(REPO, "tests", "app"), model_dir, train_file,
                     labels_file, str(args.steps), str(BATCH), str(LR), str(HEAD_LR), str(BLOCK), str(MAX_LENGTH)],
        }

        def train(name: str) -> tuple[float, float, dict]:
            """(ms per training step, process seconds, the run's report) of one run."""
            run = run_measured(commands[name], args.threads)
            if name == "oft":
                with open(os.path.join(work, "run", "metrics.json")) as f:
                    report = json.load(f)
            else:
                report = json.loads(last_json_line(run.stdout))
            return 1000 * report["train_seconds"] / args.steps, run.seconds, report

        runs = in_turns(list(commands), args.rounds, train, lambda r: f"{r[0]:.1f} ms/step, {r[1]:.2f} s")

    ms = {name: statistics.median(r[0] for r in rounds) for name, rounds in runs.items()}
    seconds = {name: statistics.median(r[1] for r in rounds) for name, rounds in runs.items()}
    loss = {name: rounds[-1][2]["final_loss"] for name, rounds in runs.items()}
    versions = runs["PEFT"][-1][2]
    print(f"\n{args.steps} steps of {BATCH}; {args.threads} threads; torch {versions['torch']}, transformers "
          f"{versions['transformers']}, peft {versions['peft']}")
    print("| | training step ms (median) | process wall s (median) | final loss |\n|---|---|---|---|")
    for name in commands:
        print(f"| {name} | {ms[name]:.1f} | {seconds[name]:.2f} | {loss[name]:.3f} |")
    print(f"| oft / PEFT | {ms['oft'] / ms['PEFT']:.3f} | {seconds['oft'] / seconds['PEFT']:.3f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
