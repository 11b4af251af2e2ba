#!/usr/bin/env python3
"""`oft quantize --method awq` with and without the input scale search ({"scale_search": false}) on one
dense model and calibration set: with it, the quantized model's logits on held-out token ids are closer
to the dense model's (relative root-mean-square error), by more than the given factor. Standard library
only; reuses tests/app/quantize_method_test.py's safetensors helpers.

The golden models are random: their hidden channels are alike, and AWQ's scales find little to protect.
--outlier-norms F first multiplies every 8th channel of the pre-attention and pre-MLP norms' weights by F
(in a copy of the single-file fp32 model), giving the readers of those norms the outlier input channels
of trained LLMs that AWQ is designed for.

  scale_search_lowers_logit_error.py --oft BIN --model DIR --work DIR --options JSON [--outlier-norms F]
                                     [--min-gain G]
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app"))
from quantize_method_test import read_f32, write_safetensors  # noqa: E402


NORMS = ("input_layernorm.weight", "post_attention_layernorm.weight", ".ln_1.weight", ".ln_2.weight")


def with_outlier_norms(model: Path, out: Path, factor: float) -> Path:
    """A copy of `model` (config.json + one fp32 model.safetensors) with outlier channels in its norms."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(model / "config.json", out / "config.json")
    data = bytearray((model / "model.safetensors").read_bytes())
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    changed = 0
    for name, entry in header.items():
        if name == "__metadata__" or not name.endswith(NORMS):
            continue
        if entry["dtype"] != "F32":
            sys.exit(f"FAIL: {model}: {name} is {entry['dtype']}, expected F32")
        begin, end = (8 + size + o for o in entry["data_offsets"])
        values = list(struct.unpack(f"<{(end - begin) // 4}f", data[begin:end]))
        values[::8] = [v * factor for v in values[::8]]
        data[begin:end] = struct.pack(f"<{len(values)}f", *values)
        changed += 1
    if not changed:
        sys.exit(f"FAIL: {model} has no norm weights named like {NORMS}")
    (out / "model.safetensors").write_bytes(bytes(data))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--oft", required=True)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--options", required=True, help="awq options (JSON object) shared by both runs")
    p.add_argument("--outlier-norms", type=float, help="multiply every 8th channel of the norms by this first")
    p.add_argument("--min-gain", type=float, default=1.0,
                   help="error without the search / error with it must exceed this")
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    if a.outlier_norms:
        a.model = with_outlier_norms(a.model, a.work / "model", a.outlier_norms)
    env = dict(os.environ, OFT_PLUGIN_CACHE=str(a.work / "scan-cache.json"))

    def oft(*args: object) -> None:
        run = subprocess.run([a.oft, "--log-level", "warn", *map(str, args)], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"FAIL: oft {' '.join(map(str, args))} exited {run.returncode}:\n{run.stderr}")

    vocab = json.loads((a.model / "config.json").read_text())["vocab_size"]
    rng = random.Random(0)
    calibration = [rng.randrange(vocab) for _ in range(8 * 32)]
    write_safetensors(a.work / "calibration.safetensors", {"input_ids": ("I64", [8, 32], calibration)})
    held_out = [rng.randrange(vocab) for _ in range(2 * 16)]
    write_safetensors(a.work / "input.safetensors", {"input_ids": ("I64", [2, 16], held_out)})
    oft("forward", "--model", a.model, "--input", a.work / "input.safetensors", "--output", a.work / "dense.safetensors")
    dense = read_f32(a.work / "dense.safetensors", "logits")

    errors = {}
    for search in (True, False):
        name = "scaled" if search else "unscaled"
        options = dict(json.loads(a.options), scale_search=search)
        oft("quantize", "--model", a.model, "--method", "awq", "--options", json.dumps(options), "--calibration",
            a.work / "calibration.safetensors", "--out", a.work / name)
        written = json.loads((a.work / name / "config.json").read_text())["quantization_config"]
        if "scale_search" in written:
            sys.exit(f"FAIL: {name}/config.json's quantization_config carries the oft-only option scale_search")
        oft("forward", "--model", a.work / name, "--input", a.work / "input.safetensors", "--output",
            a.work / f"{name}.safetensors")
        logits = read_f32(a.work / f"{name}.safetensors", "logits")
        errors[name] = (sum((x - y) ** 2 for x, y in zip(logits, dense)) / sum(y * y for y in dense)) ** 0.5
    gain = errors["unscaled"] / errors["scaled"]
    print(f"{a.model} awq {a.options}: relative RMS logit error {errors['scaled']:.4e} with the input scale search, "
          f"{errors['unscaled']:.4e} without (x{gain:.2f})")
    if not gain > a.min_gain:
        sys.exit(f"FAIL: the input scale search did not lower the logit error by more than x{a.min_gain}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
