#!/usr/bin/env python3
"""`oft train` steps/s in one process and data-parallel over --ranks local ranks (--nproc-per-node: NCCL on
CUDA, Gloo on the CPU), for scripts/gpu-check.sh (issue 15: NCCL with as many GPUs as the machine has).

The task is causal_lm with OFT on q_proj,v_proj of a model folder (gpu-check.sh passes the tiny LLaMA of the
golden data, which travels with the working tree), on random token ids. Each setting runs twice, with --short
and --long steps, and steps/s = (long - short) / (time difference): start-up, loading and the final save
cancel out. With a model this small a step is mostly launches and, with ranks, the gradient all-reduce, so
this measures the data-parallel path's overhead, not a speed-up. Prints one JSON object (bench train_steps,
impl oft) as the other gpu-check benchmarks do.
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_data(path: Path, vocab: int, rows: int, length: int) -> None:
    rng = random.Random(0)
    with path.open("w") as f:
        for _ in range(rows):
            f.write(json.dumps({"input_ids": [rng.randrange(vocab) for _ in range(length)]}) + "\n")


def seconds(oft: str, work: Path, model: str, device: str, steps: int, ranks: int) -> float:
    """Wall-clock seconds of one `oft train` run; raises with its log when it fails."""
    name = f"r{ranks}-s{steps}"
    config = work / f"{name}.json"
    config.write_text(json.dumps({
        "model": model, "task": "causal_lm", "data": {"train": str(work / "train.jsonl")},
        "oft": {"target_modules": ["q_proj", "v_proj"], "oft_block_size": 8, "r": 0},
        "optimizer": {"lr": 1e-3}, "batch_size": 8, "steps": steps, "seed": 0,
        "output_dir": str(work / name), "resume": False, "device": device}))
    command = [oft, "--log-level", "warn", "train", "--config", str(config)]
    if ranks > 0:
        command += ["--nproc-per-node", str(ranks)]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {run.returncode}:\n{run.stdout}{run.stderr}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oft", required=True, help="the oft program")
    ap.add_argument("--model", required=True, help="a causal LM model folder")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--ranks", type=int, default=1, help="local ranks of the data-parallel run")
    ap.add_argument("--short", type=int, default=20)
    ap.add_argument("--long", type=int, default=220, help="long enough that the time difference dwarfs start-up jitter")
    a = ap.parse_args()
    model = str(Path(a.model).resolve())  # TRAIN.json paths are relative to its own folder
    vocab = json.loads((Path(model) / "config.json").read_text())["vocab_size"]
    result = {"bench": "train_steps", "impl": "oft", "device": a.device, "ranks": a.ranks, "measurements": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_data(work / "train.jsonl", vocab, rows=64, length=64)
        # 0: one plain process; then the data-parallel run over a.ranks ranks.
        for ranks, label in ((0, "single_process"), (a.ranks, f"ranks{a.ranks}")):
            short = seconds(a.oft, work, model, a.device, a.short, ranks)
            long = seconds(a.oft, work, model, a.device, a.long, ranks)
            result["measurements"].append({"name": f"train_steps.{label}.steps_per_s", "unit": "steps/s",
                                           "value": (a.long - a.short) / (long - short)})
            print(json.dumps(result), flush=True)  # what is measured so far, should the stage be cut off
    return 0


if __name__ == "__main__":
    sys.exit(main())
