#!/usr/bin/env python
"""One training step of a LLaMA-shaped model with OFT, oft against PEFT on the same CPU in one run.

    .venv/bin/python bench/train/compare_llama_step.py [--threads 2] [--dtype fp32] [--batch 2] [--seq 128]
        [--block 32] [--steps 5] [--rounds 3] [--config bench/train/llama-cpu-step.json]

Runs build/bin/bench_gpu_llama_step (oft) and bench/gpu/peft_llama_step.py (PEFT, plus LoRA r=16 as a second
reference) with --device cpu and the same shape, random weights and step definition (zero_grad, forward,
causal-LM loss, backward, AdamW over the adapters), each target set in its own process so that each
process's peak resident memory (wait4's ru_maxrss: libraries, weights, activations) belongs to one adapter,
and the memory one forward and its loss keep for the backward (glibc's heap in use after them minus before).
Needs PEFT and transformers in the interpreter (scripts/setup.sh --peers). Times are medians of --steps
steps after 2 warm-up steps, in each of --rounds rounds, and the table has the median over the rounds; only the
ratios within one run mean anything.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from measured_process import last_json_line, run_measured  # noqa: E402

# (label, oft --targets, PEFT OFT adapter, PEFT LoRA adapter)
TARGET_SETS = [("q_proj,v_proj", "qv", "oft_qv", "lora_qv"),
               ("all-linear", "all_linear", "oft_all_linear", "lora_all_linear")]


def run_report(command: list[str], threads: int) -> tuple[dict, float]:
    """The command's report (its last JSON line) and its peak resident memory in GiB."""
    run = run_measured(command, threads, cwd=ROOT)
    report = json.loads(last_json_line(run.stdout))
    if report.get("errors"):
        sys.exit(f"{command[0]}: {report['errors']}")
    return report, run.peak_gib


def value(report: dict, name: str) -> float:
    return next(m["value"] for m in report["measurements"] if m["name"] == name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--config", default=str(ROOT / "bench/train/llama-cpu-step.json"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--block", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shape = ["--config", args.config, "--device", "cpu", "--dtype", args.dtype, "--batch", str(args.batch),
             "--seq", str(args.seq), "--block", str(args.block), "--steps", str(args.steps)]
    oft_bench = str(ROOT / "build/bin/bench_gpu_llama_step")
    peft_bench = [sys.executable, str(ROOT / "bench/gpu/peft_llama_step.py")]

    # Rounds alternate the implementations, and the table takes each one's median over the rounds: a shared
    # machine's slow spells then hit both alike instead of one.
    rows = []
    for label, oft_targets, peft_oft, peft_lora in TARGET_SETS:
        times: dict[str, list[float]] = {"oft": [], "peft": [], "lora": []}
        peak_gib: dict[str, float] = {"oft": 0.0, "peft": 0.0}
        held_gib: dict[str, float] = {}
        for round_index in range(args.rounds):
            print(f"[compare_llama_step] {label}, round {round_index + 1} of {args.rounds}", file=sys.stderr, flush=True)
            oft, rss = run_report([oft_bench, *shape, "--targets", oft_targets], args.threads)
            times["oft"].append(value(oft, f"llama_step.{oft_targets}.oft_step"))
            peak_gib["oft"] = max(peak_gib["oft"], rss)
            held_gib["oft"] = value(oft, f"llama_step.{oft_targets}.oft_forward_held_memory")
            peft, rss = run_report([*peft_bench, *shape, "--only", peft_oft], args.threads)
            times["peft"].append(value(peft, f"llama_step.{peft_oft}.step"))
            peak_gib["peft"] = max(peak_gib["peft"], rss)
            held_gib["peft"] = value(peft, f"llama_step.{peft_oft}.forward_held_memory")
            lora, _ = run_report([*peft_bench, *shape, "--only", peft_lora], args.threads)
            times["lora"].append(value(lora, f"llama_step.{peft_lora}.step"))
        if oft["trainable_parameters"][oft_targets] != peft["trainable_parameters"][peft_oft]:
            sys.exit(f"{label}: oft trains {oft['trainable_parameters'][oft_targets]} parameters, "
                     f"PEFT {peft['trainable_parameters'][peft_oft]}")
        median = {name: statistics.median(samples) for name, samples in times.items()}
        rows.append((label, median["oft"], median["peft"], median["lora"], peak_gib["oft"], peak_gib["peft"],
                     held_gib["oft"], held_gib["peft"]))

    versions = peft["versions"]
    print(f"LLaMA-shaped training step on the CPU, {args.dtype}, batch {args.batch} x {args.seq} tokens, "
          f"block {args.block}, {args.threads} threads; {Path(args.config).name}; PEFT {versions.get('peft')}, "
          f"transformers {versions.get('transformers')}, torch {versions.get('torch')}")
    print(f"{'OFT on':<15}{'oft ms':>9}{'PEFT ms':>9}{'oft/PEFT':>10}{'LoRA ms':>9}{'oft/LoRA':>10}"
          f"{'oft GiB':>9}{'PEFT GiB':>10}{'oft held':>10}{'PEFT held':>11}")
    for label, oft_ms, peft_ms, lora_ms, oft_rss, peft_rss, oft_held, peft_held in rows:
        print(f"{label:<15}{oft_ms:>9.1f}{peft_ms:>9.1f}{oft_ms / peft_ms:>10.3f}{lora_ms:>9.1f}{oft_ms / lora_ms:>10.3f}"
              f"{oft_rss:>9.2f}{peft_rss:>10.2f}{oft_held:>10.3f}{peft_held:>11.3f}")
    print("GiB: each process's peak resident memory; held: the C heap a forward and the loss keep for the backward")


if __name__ == "__main__":
    main()
