"""Golden data for the C++ LLM tokenizers (tests/hf/test_llm_tokenizers.cpp).

Trains small BPE tokenizers offline with the `tokenizers` package, one per layout the big models use
(nothing is fetched from a hub), writes each as a model folder (tokenizer.json, tokenizer_config.json)
and records what transformers' PreTrainedTokenizerFast gives for 1500 varied strings: ids with the
post-processor template, and the decoded text with and without special tokens.

  gpt2     byte-level BPE, GPT-2's regex inside ByteLevel, no BOS
  gpt2_added  the same with added tokens: <mask> (special, lstrip), brown (rstrip), oft-token (single_word)
  llama3   Split(LLaMA-3 regex) + ByteLevel, ignore_merges, <|begin_of_text|> template
  qwen2    NFC + Split(Qwen2 regex) + ByteLevel, chat specials, no BOS
  llama2   Prepend/Replace normalizer, BPE with byte fallback, <s> template, Replace/ByteFallback/Fuse/Strip
  mistral  Metaspace pre-tokenizer (prepend first), byte fallback, <s> template, Metaspace decoder

When the `sentencepiece` package is installed (requirements/golden-tokenizers.txt) it also trains a
SentencePiece BPE model (spm/tokenizer.model) and records sentencepiece's own ids and text.

  .venv/bin/python tests/golden/gen_llm_tokenizers.py
"""
import collections
import json
import pathlib
import random
import sys

import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

OUT = pathlib.Path(__file__).resolve().parent / "data" / "llm_tokenizers"
VOCAB = 1000
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Fragments in many scripts: the training corpus, and the pieces the random test strings are made of.
FRAGMENTS = [
    "The quick brown fox jumps over the lazy dog.", "I can't believe it's not butter!", "We'll see, they've said.",
    "Don't SHOUT: it'S rude", "Hello, world!", "e-mail: someone@example.com", "https://example.org/path?q=1&r=2",
    "Prices rose 3.5% to $1,234.56 on 2024-03-01.", "1234567890", "3.14159", "call 555-0123",
    "Café crème brûlée", "naïve coöperation façade", "Ångström Øresund Łódź Dvořák", "Tiếng Việt có dấu",
    "Ελληνικά: Οδός ΣΟΦΟΚΛΕΟΥΣ", "Русский текст: Привет, мир!", "İstanbul ışık", "Straße ẞ",
    "中文分词测试：我爱北京天安门。", "日本語のテキスト、カタカナとひらがな。", "한국어 문장도 있습니다.",
    "ภาษาไทย ไม่มีช่องว่าง", "مرحبا بالعالم", "שָׁלוֹם עולם", "नमस्ते दुनिया", "ሰላም ዓለም", "Բարեւ",
    "emoji 😍🔥👍", "family 👨‍👩‍👧‍👦 and 🏳️‍🌈 flags 🇫🇷🇯🇵", "skin 👍🏽 👋🏿", "math ∑∫√∞ ≤ ≥ ≠",
    "tabs\tand\nnewlines\r\n", "    indented code():", "def f(x):\n    return x ** 2\n", "a  b   c    d",
    "ﬁ ligature", "Ｆｕｌｌｗｉｄｔｈ １２３", "e\u0301 combining", "zero\u200bwidth", "nbsp\u00a0here", "ǅ ǈ ǋ",
]
SPECIAL_IN_TEXT = ["<mask>", " brown ", "oft-token", "<|endoftext|>", "<|begin_of_text|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<unk>"]
BLOCKS = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF),
          (0x900, 0x97F), (0xE00, 0xE7F), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0x1F300, 0x1F64F),
          (0x2000, 0x206F), (0x1D400, 0x1D4FF)]


def test_strings(rng):
    strings = ["", " ", "  ", "\n", "\n\n\n", "\t \t", " leading", "trailing ", "  two leading", "a\r\nb",
               "0", "00", "123", "1234", "12345678901234567890", "3.5", "1,000,000", "-42", "x=1+2", "'s", "'S",
               "I'M", "you'LL", "don't", "<s>", "</s>", "<unk>", "<s> hi </s>", "a<s>b", " <s> ", "<|endoftext|>",
               "hi<|endoftext|>there", "<|im_start|>user\nhi<|im_end|>", "<|begin_of_text|>x", "<0x41>", "▁", "▁▁a",
               "the <mask> is", "x  <mask>", "<mask>y", "quick brown  fox", "brownish", "an oft-token here", "anoft-token",
               "oft-token"]
    strings += FRAGMENTS
    whitespace = [" ", "  ", "\t", "\n", " \n ", "   ", "\u3000", "\u00a0", ""]
    while len(strings) < 1500:
        kind = rng.random()
        if kind < 0.45:  # pieces of fragments with whitespace runs between them
            parts = []
            for _ in range(rng.randint(1, 3)):
                frag = rng.choice(FRAGMENTS)
                start = rng.randint(0, max(0, len(frag) - 4))
                parts.append(frag[start:start + rng.randint(1, 14)])
                parts.append(rng.choice(whitespace))
            strings.append("".join(parts[:-1] if rng.random() < 0.5 else parts))
        elif kind < 0.75:  # random code points from many blocks
            lo, hi = rng.choice(BLOCKS)
            strings.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6))))
        elif kind < 0.9:  # digits and punctuation runs
            alphabet = "0123456789 .,-+'\"!?()[]{}$%#@_/\\:;"
            strings.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16))))
        else:  # special tokens inside text
            frag = rng.choice(FRAGMENTS)[:10]
            strings.append(frag + rng.choice(["", " "]) + rng.choice(SPECIAL_IN_TEXT) + rng.choice(["", " "]) + frag)
    return strings


def corpus():
    rng = random.Random(1)
    lines = []
    for _ in range(3000):
        lines.append(" ".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 4))))
    return lines


def added(token_id, content, special=True):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": not special, "special": special}


def train_byte_level(specials, pattern):
    tok = Tokenizer(models.BPE())
    if pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    return tok


def byte_level(name):
    if name == "gpt2":
        tok = train_byte_level(["<|endoftext|>"], None)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=True)
        return tok, {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    if name == "gpt2_added":  # added tokens with the flags RoBERTa-style models set
        tok, config = byte_level("gpt2")
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
        tok.add_tokens([AddedToken("brown", rstrip=True), AddedToken("oft-token", single_word=True)])
        return tok, config
    if name == "llama3":
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|eot_id|>"]
        tok = train_byte_level(specials, LLAMA3_PATTERN)
        spec = json.loads(tok.to_str())
        spec["model"]["ignore_merges"] = True
        tok = Tokenizer.from_str(json.dumps(spec))
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                          special_tokens=[("<|begin_of_text|>", 0)])])
        return tok, {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = train_byte_level(specials, QWEN2_PATTERN)
    tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}


def metaspace(name):
    # Train on Metaspace words with a small alphabet, so that rare characters need the byte fallback.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    # The 150 most frequent characters, ties by code point: the trainer's own limit_alphabet breaks ties at random.
    counts = collections.Counter("".join(corpus()).replace(" ", "▁"))
    alphabet = sorted(counts, key=lambda c: (-counts[c], c))[:150]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - 256, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=150,
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    trained = json.loads(tok.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    for piece, _ in sorted(trained["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(piece, len(vocab))
    spec = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": trained["merges"]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    }
    if name == "llama2":
        spec["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                                  {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
        spec["pre_tokenizer"] = None
        spec["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    else:
        spec["normalizer"] = None
        spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
        spec["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}, {"type": "ByteFallback"},
            {"type": "Fuse"}]}
    return Tokenizer.from_str(json.dumps(spec)), {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def write_layout(name, strings):
    tok, config = byte_level(name) if name in ("gpt2", "gpt2_added", "llama3", "qwen2") else metaspace(name)
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"), pretty=False)
    config.update({"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
                   "model_max_length": 1 << 20})
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
    hf = PreTrainedTokenizerFast.from_pretrained(str(folder))
    cases = []
    for text in strings:
        ids = hf(text)["input_ids"]
        decoded = hf.decode(ids)
        skipped = hf.decode(ids, skip_special_tokens=True)
        # Text that round-trips is not repeated: null stands for "equal to the input".
        cases.append([ids, None if decoded == text else decoded, None if skipped == decoded else skipped])
    return {"bos": hf.bos_token_id, "eos": hf.eos_token_id, "pad": hf.pad_token_id, "vocab_size": len(hf),
            "cases": cases}


def sentencepiece_layout(strings):
    try:
        import sentencepiece as spm
    except ImportError:
        return None
    folder = OUT / "spm"
    folder.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus()), model_prefix=str(folder / "tokenizer"),
                                   model_type="bpe", vocab_size=600, byte_fallback=True, character_coverage=0.98,
                                   num_threads=1, minloglevel=2, normalization_rule_name="identity", bos_id=1, eos_id=2, unk_id=0, pad_id=-1)
    (folder / "tokenizer.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({"add_bos_token": True, "add_eos_token": False}) + "\n")
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    cases = []
    for text in strings:
        ids = [sp.bos_id()] + sp.encode(text)
        decoded = sp.decode(ids)
        cases.append([ids, None if decoded == text else decoded, None])
    return {"sentencepiece": spm.__version__, "bos": sp.bos_id(), "eos": sp.eos_id(), "pad": None,
            "vocab_size": sp.get_piece_size(), "cases": cases}


def main():
    strings = test_strings(random.Random(17))
    result = {"versions": {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__,
                           "python": sys.version.split()[0]},
              "strings": strings, "layouts": {}}
    for name in ("gpt2", "gpt2_added", "llama3", "qwen2", "llama2", "mistral"):
        result["layouts"][name] = write_layout(name, strings)
    spm_result = sentencepiece_layout(strings)
    if spm_result is not None:
        result["layouts"]["spm"] = spm_result
    (OUT / "cases.json").write_text(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
