"""The `oft` command against the real Python libraries (PEFT, transformers), on the tiny random
checkpoints that transformers wrote (tests/golden/data/models/hf/) and, when available, the real
all-MiniLM-L6-v2 (OFT_MINILM_DIR):

  - `oft train` (causal_lm) writes an adapter that PEFT loads onto the transformers model and that
    gives the logits `oft forward --adapter` gives;
  - a run stopped at step k and resumed ends with the same adapter as an uninterrupted run;
  - `oft merge` writes a checkpoint that transformers loads and that gives the unmerged PEFT logits;
  - `oft plan --json` targets the modules PEFT targets, with PEFT's trainable-parameter count;
  - `oft train` (sequence_classification) on MiniLM: PEFT on the same encoder + head gives its eval logits;
  - `oft quantize` writes bnb int8 / nf4 checkpoints that transformers + bitsandbytes load (when
    bitsandbytes is importable) with the logits `oft forward` gives, and a GPTQ checkpoint that oft loads,
    `oft plan` shows as not mergeable, and transformers + GPTQModel loads (when importable) with equal logits.

Tolerance: max |a - b| <= 1e-4 * max(1, max |b|) in fp32.
Usage: cli_interop.py OFT_BINARY HF_MODELS_DIR   (exit 77 = skipped: peft not importable)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The peers' CPU paths, pinned so that the comparisons below do not depend on the CPU (bitsandbytes switches
# kernels on AVX512-BF16); it sets ATEN_CPU_CAPABILITY, so it comes before torch.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
import peer_cpu_path  # noqa: E402

try:
    import torch
    from peft import OFTConfig, PeftModel, get_peft_model
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
except ImportError as e:  # the test is optional where the Python peers are not installed
    print(f"skipped: {e}")
    sys.exit(77)
from mean_pool_classifier import MeanPoolClassifier  # noqa: E402  (this folder's; it needs torch)

OFT, HF = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
WORK = Path(tempfile.mkdtemp(prefix="oft-cli-interop-"))
failures = []


def oft(*args):
    result = subprocess.run([str(OFT), "--log-level", "warn", *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"oft {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def check_close(what, got, expected):
    got, expected = got.float(), expected.float()
    diff = (got - expected).abs().max().item()
    limit = 1e-4 * max(1.0, expected.abs().max().item())
    status = "ok" if diff <= limit else "FAIL"
    print(f"{status:4} {what}: max diff {diff:.2e} (limit {limit:.1e})")
    if diff > limit:
        failures.append(what)


def check(what, condition, detail=""):
    print(f"{'ok' if condition else 'FAIL':4} {what} {detail}")
    if not condition:
        failures.append(what)


def token_inputs(vocab, rows=3, length=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (rows, length), generator=g)
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0  # right padding on one row
    return ids, mask


def causal_lm_case(name, model_dir, targets, block_size, peft_supports=True):
    """peft_supports=False: PEFT's OFT refuses the layer type (GPT-2's Conv1D), so the merged checkpoint
    in transformers is compared with `oft forward --adapter` instead of with PEFT."""
    config = json.loads((model_dir / "config.json").read_text())
    vocab = config["vocab_size"]
    data = WORK / f"{name}-train.jsonl"
    g = torch.Generator().manual_seed(1)
    data.write_text("".join(json.dumps({"input_ids": torch.randint(3, vocab, (12,), generator=g).tolist()}) + "\n"
                            for _ in range(8)))
    oft_config = {"target_modules": targets, "oft_block_size": block_size, "r": 0, "init_weights": False}

    def train_config(out, steps):
        path = WORK / f"{name}-{out}-{steps}.json"
        path.write_text(json.dumps({"model": str(model_dir), "task": "causal_lm", "data": {"train": str(data)},
                                    "oft": oft_config, "optimizer": {"lr": 1e-2}, "batch_size": 4, "steps": steps,
                                    "seed": 3, "output_dir": str(WORK / f"{name}-{out}"), "save_every": 2}))
        return path

    oft("train", "--config", train_config("straight", 6))
    oft("train", "--config", train_config("resumed", 3))
    oft("train", "--config", train_config("resumed", 6))  # continues from the step-3 checkpoint
    a = load_file(WORK / f"{name}-straight/adapter/adapter_model.safetensors")
    b = load_file(WORK / f"{name}-resumed/adapter/adapter_model.safetensors")
    check(f"{name}: resumed run ends with the uninterrupted run's adapter",
          a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a))

    adapter = WORK / f"{name}-straight/adapter"
    ids, mask = token_inputs(vocab)
    save_file({"input_ids": ids, "attention_mask": mask}, WORK / f"{name}-input.safetensors")
    oft("forward", "--model", model_dir, "--adapter", adapter, "--input", WORK / f"{name}-input.safetensors",
        "--output", WORK / f"{name}-oft.safetensors")
    valid = mask.bool()  # padded positions are not compared (their values are implementation-defined)
    oft_logits = load_file(WORK / f"{name}-oft.safetensors")["logits"]
    if peft_supports:
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        peft_model = PeftModel.from_pretrained(base, adapter).eval()
        with torch.no_grad():
            reference = peft_model(input_ids=ids, attention_mask=mask).logits
        check_close(f"{name}: oft forward --adapter vs PEFT", oft_logits[valid], reference[valid])
        with torch.no_grad(), peft_model.disable_adapter():
            base_logits = peft_model(input_ids=ids, attention_mask=mask).logits
        change = (base_logits - reference)[valid].abs().max().item()
        check(f"{name}: the trained adapter changes the logits", change > 1e-3, f"(by up to {change:.2e})")
    else:
        reference = oft_logits

    oft("merge", "--model", model_dir, "--adapter", adapter, "--out", WORK / f"{name}-merged")
    merged = AutoModelForCausalLM.from_pretrained(WORK / f"{name}-merged", dtype=torch.float32).eval()
    with torch.no_grad():
        merged_logits = merged(input_ids=ids, attention_mask=mask).logits
    check_close(f"{name}: oft merge checkpoint in transformers vs unmerged " + ("PEFT" if peft_supports else "oft"),
                merged_logits[valid], reference[valid])
    if not peft_supports:
        return

    (WORK / f"{name}-oft.json").write_text(json.dumps(oft_config))
    plan = json.loads(oft("plan", "--model", model_dir, "--config", WORK / f"{name}-oft.json", "--json"))
    reference = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), OFTConfig(**oft_config))
    peft_targets = sorted(n.removeprefix("base_model.model.") for n, m in reference.named_modules()
                          if hasattr(m, "oft_R") and isinstance(getattr(m, "oft_R"), torch.nn.ModuleDict))
    trainable, _ = reference.get_nb_trainable_parameters()
    check(f"{name}: plan targets PEFT's modules", sorted(m["module"] for m in plan["modules"]) == peft_targets,
          f"({len(peft_targets)} modules)")
    check(f"{name}: plan counts PEFT's trainable parameters", plan["trainable"] == trainable,
          f"({plan['trainable']} vs {trainable})")


def classification_case(minilm, data_dir):
    rows = [json.loads(line) for line in (data_dir / "train.jsonl").read_text().splitlines()[:48]]
    train, held_out = WORK / "cls-train.jsonl", WORK / "cls-eval.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[:32]))
    held_out.write_text("".join(json.dumps(r) + "\n" for r in rows[32:]))
    config = WORK / "cls.json"
    config.write_text(json.dumps({"model": str(minilm), "task": "sequence_classification",
                                  "data": {"train": str(train), "eval": str(held_out), "labels": ["negative", "positive"]},
                                  "oft": {"target_modules": ["query", "value"], "oft_block_size": 32, "r": 0},
                                  "batch_size": 8, "steps": 4, "output_dir": str(WORK / "cls")}))
    oft("train", "--config", config)
    model = MeanPoolClassifier(AutoModel.from_pretrained(minilm, dtype=torch.float32), 2)
    model = PeftModel.from_pretrained(model, WORK / "cls/adapter").eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    batch = tokenizer([r["text"] for r in rows[32:]], padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    check_close("MiniLM classification: oft train's eval logits vs PEFT", load_file(WORK / "cls/eval_logits.safetensors")["logits"], logits)


def quantize_case():
    model_dir = HF / "llama_sharded"
    ids, mask = token_inputs(64, seed=5)
    inputs = WORK / "q-input.safetensors"
    save_file({"input_ids": ids, "attention_mask": mask}, inputs)
    valid = mask.bool()
    oft("forward", "--model", model_dir, "--input", inputs, "--output", WORK / "q-dense.safetensors")
    dense = load_file(WORK / "q-dense.safetensors")["logits"]
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        bitsandbytes = None
    for method, limit in [("bnb-int8", 0.02), ("bnb-nf4", 0.2)]:
        out = WORK / f"q-{method}"
        oft("quantize", "--model", model_dir, "--method", method, "--out", out)
        oft("forward", "--model", out, "--input", inputs, "--output", WORK / f"q-{method}.safetensors")
        logits = load_file(WORK / f"q-{method}.safetensors")["logits"]
        error = (logits - dense)[valid].abs().max().item() / dense.abs().max().item()
        check(f"{method}: quantized logits near the dense ones, but not equal", 0 < error < limit, f"(relative {error:.2e})")
        if bitsandbytes is None:
            print(f"skip {method} in transformers: bitsandbytes is not importable")
            continue
        reference = AutoModelForCausalLM.from_pretrained(out, device_map="cpu").eval()
        peer_cpu_path.use_portable_4bit_dequantization()
        peer_cpu_path.use_dequantize_path(reference)
        with torch.no_grad():
            expected = reference(input_ids=ids, attention_mask=mask).logits.float()
        check_close(f"{method}: oft quantize checkpoint in transformers + bitsandbytes vs oft forward",
                    logits[valid], expected[valid])
    # GPTQ packs in groups of 32 rows and columns: a LLaMA with 64 hidden, 2 key/value heads of 16.
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    dense_dir, out = WORK / "q-llama64", WORK / "q-gptq"
    LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(dense_dir)
    g = torch.Generator().manual_seed(2)
    calibration = WORK / "q-calibration.safetensors"
    save_file({"input_ids": torch.randint(3, 128, (16, 32), generator=g)}, calibration)
    oft("quantize", "--model", dense_dir, "--method", "gptq", "--options", '{"bits": 4, "group_size": 32}',
        "--calibration", calibration, "--out", out)
    ids128, mask128 = token_inputs(128, seed=6)
    save_file({"input_ids": ids128, "attention_mask": mask128}, WORK / "q-input128.safetensors")
    valid = mask128.bool()
    oft("forward", "--model", dense_dir, "--input", WORK / "q-input128.safetensors", "--output", WORK / "q-llama64-dense.safetensors")
    oft("forward", "--model", out, "--input", WORK / "q-input128.safetensors", "--output", WORK / "q-gptq.safetensors")
    dense = load_file(WORK / "q-llama64-dense.safetensors")["logits"]
    logits = load_file(WORK / "q-gptq.safetensors")["logits"]
    error = (logits - dense)[valid].abs().max().item() / dense.abs().max().item()
    check("gptq: oft quantize checkpoint loads in oft, logits near the dense ones", 0 < error < 0.2, f"(relative {error:.2e})")
    (WORK / "q-oft.json").write_text(json.dumps({"target_modules": ["q_proj", "v_proj"], "oft_block_size": 16, "r": 0}))
    plan = json.loads(oft("plan", "--model", out, "--config", WORK / "q-oft.json", "--json"))
    check("gptq: plan shows the gptq layers claimed by gptq and not mergeable",
          plan["modules"] and all(m["dispatcher"] == "gptq" and m["merge"] == "refused" for m in plan["modules"]))
    try:
        import gptqmodel  # noqa: F401  (not in requirements/peers.txt: it needs optimum, and CI skips this)
    except ImportError:
        print("skip gptq in transformers: gptqmodel is not importable")
        return
    reference = AutoModelForCausalLM.from_pretrained(out, device_map="cpu").eval()
    with torch.no_grad():
        expected = reference(input_ids=ids128, attention_mask=mask128).logits.float()
    check_close("gptq: oft quantize checkpoint in transformers + GPTQModel vs oft forward", logits[valid], expected[valid])


quantize_case()
causal_lm_case("llama", HF / "llama_sharded", ["q_proj", "v_proj", "down_proj"], 4)
causal_lm_case("gpt2", HF / "gpt2", ["c_attn", "c_fc"], 4, peft_supports=False)
minilm = os.environ.get("OFT_MINILM_DIR")
if minilm and Path(minilm, "config.json").exists():
    classification_case(Path(minilm), Path(__file__).resolve().parents[2] / "data/review_sentiment")
else:
    print("skip MiniLM classification: OFT_MINILM_DIR is not set (scripts/fetch_minilm.sh prints it)")
if failures:
    print(f"FAILED: {', '.join(failures)} (files kept in {WORK})")
    sys.exit(1)
shutil.rmtree(WORK)
print("all checks passed")
