#!/usr/bin/env python3
"""One backend's `oft quantize --method` end to end through the `oft` command (standard library only, so
it runs without the Python peers). A backend's tests/backends/<name>/CMakeLists.txt adds one ctest per
method with tests/CMakeLists.txt's helper, e.g.

  oft_add_quantize_method_test(my_int4_quantizes_a_model_with_oft METHOD my-int4 OPTIONS "{\"bits\": 4}"
                               DISPATCHER my MERGE requantize MAX_ERROR 0.2)

It checks that `oft plugins` and `oft quantize --help` list the method, that `oft quantize` writes a
checkpoint (with calibration token ids when the method needs them) whose config.json carries the format's
quantization_config and the model folder's generation and tokenizer files, that `oft forward` on it gives logits near the dense model's but not equal to them
(relative max error in (0, --max-error)), and that `oft plan` loads it with the given dispatcher claiming
q_proj/v_proj and the given merge mode. Plugins come from the build's plugin folder (or OFT_PLUGIN_PATH).
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


def write_safetensors(path: Path, tensors: dict) -> None:
    """tensors: name -> (dtype "I64"/"F32", shape, flat list of values)."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, values) in tensors.items():
        blob = struct.pack(f"<{len(values)}{'q' if dtype == 'I64' else 'f'}", *values)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_f32(path: Path, name: str) -> list:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    entry = json.loads(data[8:8 + size])[name]
    if entry["dtype"] != "F32":
        sys.exit(f"FAIL: {path}: {name} is {entry['dtype']}, expected F32")
    begin, end = (8 + size + o for o in entry["data_offsets"])
    return list(struct.unpack(f"<{(end - begin) // 4}f", data[begin:end]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--oft", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--options", default="")
    p.add_argument("--model", required=True, type=Path, help="a dense LLaMA-family folder")
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--max-error", required=True, type=float)
    p.add_argument("--dispatcher", required=True)
    p.add_argument("--merge", required=True, choices=["exact", "requantize", "refused"])
    a = p.parse_args()

    a.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OFT_PLUGIN_CACHE=str(a.work / "scan-cache.json"))

    def oft(*args: object) -> str:
        run = subprocess.run([a.oft, "--log-level", "warn", *map(str, args)], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"FAIL: oft {' '.join(map(str, args))} exited {run.returncode}:\n{run.stderr}")
        return run.stdout

    report = json.loads(oft("plugins", "--json"))
    method = next((m for f in report["formats"] for m in f["methods"] if m["name"] == a.method), None)
    if method is None:
        sys.exit(f"FAIL: oft plugins --json lists no quantize method {a.method}")
    if not any(line.split()[:1] == [a.method] for line in oft("quantize", "--help").splitlines()):
        sys.exit(f"FAIL: oft quantize --help does not list {a.method}")

    config = json.loads((a.model / "config.json").read_text())
    rng = random.Random(0)
    ids = [rng.randrange(config["vocab_size"]) for _ in range(2 * 16)]
    write_safetensors(a.work / "input.safetensors",
                      {"input_ids": ("I64", [2, 16], ids), "attention_mask": ("I64", [2, 16], [1] * 32)})
    # The model with a generation config beside it, which the quantized folder must carry over.
    model = a.work / "model"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(a.model, model)
    (model / "generation_config.json").write_text('{"bos_token_id": 0, "eos_token_id": 2}\n')
    quantized = a.work / "quantized"
    args = ["quantize", "--model", model, "--method", a.method, "--out", quantized]
    if a.options:
        args += ["--options", a.options]
    if method["needs_calibration"]:
        calibration = [rng.randrange(config["vocab_size"]) for _ in range(8 * 32)]
        write_safetensors(a.work / "calibration.safetensors", {"input_ids": ("I64", [8, 32], calibration)})
        args += ["--calibration", a.work / "calibration.safetensors"]
    oft(*args)
    written = json.loads((quantized / "config.json").read_text()).get("quantization_config")
    if not written:
        sys.exit(f"FAIL: {quantized}/config.json has no quantization_config")
    copied = quantized / "generation_config.json"
    if not copied.is_file() or copied.read_bytes() != (model / "generation_config.json").read_bytes():
        sys.exit(f"FAIL: {quantized} does not hold the model folder's generation_config.json")

    oft("forward", "--model", a.model, "--input", a.work / "input.safetensors", "--output", a.work / "dense.safetensors")
    oft("forward", "--model", quantized, "--input", a.work / "input.safetensors", "--output", a.work / "q.safetensors")
    dense, logits = read_f32(a.work / "dense.safetensors", "logits"), read_f32(a.work / "q.safetensors", "logits")
    error = max(abs(x - y) for x, y in zip(logits, dense)) / max(abs(y) for y in dense)
    if not 0 < error < a.max_error:
        sys.exit(f"FAIL: {a.method}: relative logit error {error:.3e}, expected in (0, {a.max_error})")

    (a.work / "oft.json").write_text(json.dumps({"target_modules": ["q_proj", "v_proj"], "r": 0, "oft_block_size": 4}))
    modules = json.loads(oft("plan", "--model", quantized, "--config", a.work / "oft.json", "--json"))["modules"]
    wrong = [m for m in modules if m["dispatcher"] != a.dispatcher or m["merge"] != a.merge]
    if not modules or wrong:
        sys.exit(f"FAIL: oft plan: expected every module claimed by {a.dispatcher} with merge {a.merge}: {wrong or modules}")
    print(f"{a.method}: listed, quantized {a.model.name} (quantization_config {json.dumps(written)}), "
          f"logits within {error:.2e} relative of dense, {len(modules)} modules planned on {a.dispatcher} ({a.merge})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
