"""`oft train` (task causal_lm) on text against PEFT + transformers: a random tiny LLaMA saved next to the
LLaMA-2 style tokenizer of tests/golden/data/llm_tokenizers/llama2 (Metaspace BPE, BOS/EOS), and JSON
lines of three kinds:
  - {"text": ...} rows, right-padded;
  - {"prompt": ..., "completion": ...} rows, loss on the completion and EOS only;
  - {"text": ...} rows packed into max_length blocks.
Python builds the same rows with transformers' tokenizer (the recipe of docs/text-training.md), trains PEFT's
OFT on the transformers model with torch.optim.AdamW, transformers' -100 label loss and `oft train`'s batch
order, and the adapter `oft train` writes must equal PEFT's. Also checks that oft's reported loss matches.
Tolerance: max |a - b| <= 1e-4 * max(1, max |b|) on every adapter tensor in fp32.

Usage: text_train_interop.py OFT_BINARY TOKENIZERS_DIR   (exit 77 = skipped: peft not importable)
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import torch
    from peft import OFTConfig, get_peft_model, get_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
except ImportError as e:  # optional where the Python peers are not installed
    print(f"skipped: {e}")
    sys.exit(77)

torch.set_num_threads(1)
OFT, TOKENIZERS = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
WORK = Path(tempfile.mkdtemp(prefix="oft-text-train-"))
OFT_CONFIG = {"target_modules": ["q_proj", "v_proj", "down_proj"], "oft_block_size": 4, "r": 0}
LR, BATCH, STEPS, SEED = 1e-2, 2, 4, 3
TEXTS = ["The cat sat on the mat.", "Hello world, this is a test.", "Orthogonal fine-tuning keeps the norms.",
         "A small model learns quickly.", "Tokens, tokens and more tokens!"]
PAIRS = [("Q: What sat on the mat?\nA:", " The cat."), ("Translate to French: cat\n", " chat"),
         ("2 + 2 =", " 4"), ("Say hello:", " Hello world!"), ("Name a colour:", " blue")]


def make_model() -> tuple[Path, "AutoTokenizer"]:
    model_dir = WORK / "model"
    shutil.copytree(TOKENIZERS / "llama2", model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=None)
    LlamaForCausalLM(config).save_pretrained(model_dir)
    return model_dir, tokenizer


def reference_rows(tokenizer, rows, max_length, packing):
    """(ids, labels) per training row: the recipe of docs/text-training.md, written independently of oft."""
    examples = []
    for row in rows:
        if "text" in row:
            ids = tokenizer(row["text"])["input_ids"]
            labels = list(ids)
        else:
            prompt = tokenizer(row["prompt"])["input_ids"]
            completion = tokenizer(row["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            ids, labels = prompt + completion, [-100] * len(prompt) + completion
        examples.append((ids, labels))
    if not packing:
        return [(ids[:max_length], labels[:max_length]) for ids, labels in examples]
    eos = tokenizer.eos_token_id
    stream_ids, stream_labels = [], []
    for ids, labels in examples:
        stream_ids += ids
        stream_labels += labels
        if ids[-1] != eos:
            stream_ids.append(eos)
            stream_labels.append(eos)
    blocks = [(stream_ids[i:i + max_length], stream_labels[i:i + max_length])
              for i in range(0, len(stream_ids), max_length)]
    return [b for b in blocks if any(label != -100 for label in b[1][1:])]


def peft_train(model_dir, examples):
    longest = max(len(ids) for ids, _ in examples)
    ids = torch.zeros(len(examples), longest, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (row, row_labels) in enumerate(examples):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
        labels[i, :len(row)] = torch.tensor(row_labels)
    model = get_peft_model(LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32), OFTConfig(**OFT_CONFIG))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR, weight_decay=0.0)
    per_epoch = (len(examples) + BATCH - 1) // BATCH
    losses = []
    for step in range(STEPS):  # oft train's order: a fresh permutation per epoch, seeded with seed + epoch
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(SEED + step // per_epoch))
        batch = order[(step % per_epoch) * BATCH:][:BATCH]
        optimizer.zero_grad()
        loss = model(input_ids=ids[batch], attention_mask=mask[batch], labels=labels[batch]).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return get_peft_model_state_dict(model), sum(losses) / len(losses)


def oft_train(model_dir, name, rows, max_length, packing):
    data = WORK / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = WORK / f"{name}.json"
    config.write_text(json.dumps({"model": str(model_dir), "task": "causal_lm",
                                  "data": {"train": str(data), "max_length": max_length, "packing": packing},
                                  "oft": OFT_CONFIG, "optimizer": {"lr": LR, "weight_decay": 0.0},
                                  "batch_size": BATCH, "steps": STEPS, "seed": SEED,
                                  "output_dir": str(WORK / name)}))
    subprocess.run([str(OFT), "--log-level", "warn", "train", "--config", str(config)], check=True,
                   capture_output=True, text=True)
    metrics = json.loads((WORK / name / "metrics.json").read_text())
    return load_file(WORK / name / "adapter/adapter_model.safetensors"), metrics["final_loss"]


def main() -> int:
    model_dir, tokenizer = make_model()
    cases = [("text", [{"text": t} for t in TEXTS], 20, False),
             ("prompt_completion", [{"prompt": p, "completion": c} for p, c in PAIRS], 32, False),
             ("text_packed", [{"text": t} for t in TEXTS], 16, True)]
    failures = []
    for name, rows, max_length, packing in cases:
        got, oft_loss = oft_train(model_dir, name, rows, max_length, packing)
        expected, peft_loss = peft_train(model_dir, reference_rows(tokenizer, rows, max_length, packing))
        if got.keys() != expected.keys():
            failures.append(f"{name}: adapter keys {sorted(got)} != PEFT's {sorted(expected)}")
            continue
        diff = max((got[k] - expected[k]).abs().max().item() for k in got)
        scale = max(max(expected[k].abs().max().item() for k in expected), 1.0)
        moved = max(expected[k].abs().max().item() for k in expected)
        ok = diff <= 1e-4 * scale and moved > 1e-3 and abs(oft_loss - peft_loss) <= 1e-4 * max(1.0, peft_loss)
        print(f"{'ok' if ok else 'FAIL':4} {name}: adapter max diff {diff:.2e} (PEFT's largest entry {moved:.2e}), "
              f"mean loss oft {oft_loss:.6f} PEFT {peft_loss:.6f}")
        if not ok:
            failures.append(name)
    if failures:
        print(f"FAILED: {', '.join(failures)} (files kept in {WORK})")
        return 1
    shutil.rmtree(WORK)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
