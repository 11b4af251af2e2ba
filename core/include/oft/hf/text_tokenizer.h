#pragma once
// The tokenizer of a causal or masked language model folder, behind one interface: text to ids and
// back, as transformers' AutoTokenizer does. LibTorch-free.
//   tokenizer.json   Hugging Face `tokenizers` pipeline (byte-level BPE as GPT-2/LLaMA-3/Qwen2 use,
//                    Metaspace BPE with byte fallback as LLaMA-2/Mistral use); docs/tokenizers.md
//                    lists the supported components, anything else is refused with a FormatError.
//   tokenizer.model  SentencePiece model (when liboft_core was built with libsentencepiece).
//   vocab.txt        BERT WordPiece (BertTokenizer).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oft/export.h"

namespace oft::models {

class OFT_CORE_API TextTokenizer {
 public:
  virtual ~TextTokenizer();

  // Ids of UTF-8 text (oft::UsageError when it is not valid UTF-8). add_special_tokens applies the
  // model's post-processor template (e.g. LLaMA's BOS), as transformers' tokenizer(text) does by default.
  virtual std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const = 0;
  // Text of ids, as transformers' tokenizer.decode(ids, skip_special_tokens=...) gives it.
  // oft::UsageError when an id is out of range.
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const = 0;
  virtual std::optional<int64_t> bos_id() const = 0;
  virtual std::optional<int64_t> eos_id() const = 0;
  virtual std::optional<int64_t> pad_id() const = 0;
  // Number of ids, added tokens included (the largest id + 1).
  virtual std::size_t vocab_size() const = 0;
};

// The model folder's tokenizer: tokenizer.json (preferred), else tokenizer.model (SentencePiece),
// else vocab.txt (WordPiece). oft::FormatError naming the folder when none is there, or naming the
// file and component when it is malformed or unsupported. bos/eos/pad come from the folder's
// tokenizer_config.json / special_tokens_map.json where those name them.
OFT_CORE_API std::unique_ptr<TextTokenizer> load_tokenizer(const std::filesystem::path& model_dir);

}  // namespace oft::models
