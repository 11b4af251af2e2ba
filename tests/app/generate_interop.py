"""`oft generate` against transformers' generate() with a text prompt: for tokenizers of two kinds
(byte-level BPE as LLaMA-3 uses, Metaspace BPE as LLaMA-2/Mistral use; tests/golden/data/llm_tokenizers/),
a random tiny LLaMA with that vocabulary is saved next to the tokenizer files, and `oft generate --prompt`
must give transformers' prompt ids, greedy continuation and decoded text (skip_special_tokens), both
with --json and as the text it streams to stdout.

Usage: generate_interop.py OFT_BINARY TOKENIZERS_DIR   (exit 77 = skipped: transformers not importable)
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
except ImportError as e:  # optional where the Python peers are not installed
    print(f"skipped: {e}")
    sys.exit(77)

OFT, TOKENIZERS = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
PROMPT = "Hello world, this is"
NEW = 16


def check(kind: str, work: Path) -> list[str]:
    model_dir = work / kind
    shutil.copytree(TOKENIZERS / kind, model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, pad_token_id=None)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(model_dir)
    (model_dir / "generation_config.json").unlink(missing_ok=True)
    prompt_ids = tokenizer(PROMPT)["input_ids"]
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=NEW,
                             pad_token_id=0)
    new_ids = out[0, len(prompt_ids):].tolist()
    text = tokenizer.decode(new_ids, skip_special_tokens=True)
    args = [str(OFT), "--log-level", "warn", "generate", "--model", str(model_dir), "--prompt", PROMPT,
            "--max-new-tokens", str(NEW)]
    got = json.loads(subprocess.run(args + ["--json"], capture_output=True, text=True, check=True).stdout)
    streamed = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    failures = []
    for key, expected in (("prompt_ids", prompt_ids), ("ids", new_ids), ("text", text)):
        if got.get(key) != expected:
            failures.append(f"{kind}: {key} {got.get(key)!r} != transformers' {expected!r}")
    if streamed != text + "\n":
        failures.append(f"{kind}: streamed {streamed!r} != {text!r} + newline")
    print(f"{kind}: {len(new_ids)} tokens, text {text!r}")
    return failures


def main() -> int:
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="oft-generate-interop-"))
    try:
        failures = [f for kind in ("llama3", "llama2") for f in check(kind, work)]
    finally:
        shutil.rmtree(work)
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
