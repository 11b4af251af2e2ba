#pragma once
// BERT's WordPiece tokenizer, giving the same ids as Hugging Face's BertTokenizer (the Rust
// `tokenizers` BertNormalizer + BertPreTokenizer + WordPiece + [CLS]/[SEP] template):
//   1. special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) written in the text are kept whole;
//   2. clean-up: NUL, U+FFFD and control/format/private-use characters are dropped, every Unicode
//      white space becomes a space;
//   3. CJK ideographs get a space on each side;
//   4. accents are stripped (NFD, then nonspacing marks removed) and the text is lowercased per
//      character (do_lower_case; strip_accents follows it unless set);
//   5. words split at white space and at punctuation (Unicode P* plus all ASCII symbols);
//   6. each word becomes the longest vocabulary pieces from the left, continuations prefixed "##";
//      a word longer than 100 characters or with no match becomes [UNK].
// Unicode properties (categories, full lowercase mapping, NFD) come from ICU.
// LibTorch-free: ids come back as plain vectors for the caller to turn into tensors.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "oft/export.h"

namespace oft::models {

struct BertTokenizerOptions {
  bool lowercase = true;               // tokenizer_config.json "do_lower_case"
  std::optional<bool> strip_accents;   // "strip_accents"; unset (null): follows lowercase
  bool tokenize_chinese_chars = true;  // "tokenize_chinese_chars"
  std::size_t max_input_chars_per_word = 100;
  std::string unk_token = "[UNK]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string cls_token = "[CLS]";
  std::string mask_token = "[MASK]";
};

enum class Padding {
  Longest,    // pad every row to the longest row of the batch
  MaxLength,  // pad every row to max_length
};

// A batch of encoded texts, row-major: element (row, position) is at row * length + position.
struct EncodedBatch {
  std::size_t rows = 0;
  std::size_t length = 0;
  std::vector<int64_t> input_ids;       // [CLS] tokens [SEP], then pad_id
  std::vector<int64_t> attention_mask;  // 1 on tokens (specials included), 0 on padding
};

class OFT_CORE_API BertTokenizer {
 public:
  // Reads vocab.txt (one token per line, id = line number from 0). Throws oft::FormatError when the
  // file is missing or unreadable, or lacks the unk, sep, pad or cls token (the mask token is
  // optional: kept whole in text only when the vocabulary has it).
  explicit BertTokenizer(const std::filesystem::path& vocab_file, BertTokenizerOptions options = {});

  // A model folder: vocab.txt, plus the options from tokenizer_config.json when that file exists.
  static BertTokenizer from_pretrained(const std::filesystem::path& dir);

  // Word pieces of the text, without [CLS]/[SEP].
  std::vector<std::string> tokenize(std::string_view text) const;
  // [CLS] pieces [SEP] as ids.
  std::vector<int64_t> encode(std::string_view text) const;
  // The same, keeping at most max_length ids: the pieces are cut from the end, [SEP] stays last.
  // max_length must be at least 2 (oft::UsageError otherwise).
  std::vector<int64_t> encode(std::string_view text, std::size_t max_length) const;
  // Each text encoded with truncation to max_length, then padded with pad_id.
  EncodedBatch encode_batch(const std::vector<std::string>& texts, std::size_t max_length,
                            Padding padding = Padding::Longest) const;

  // The id of a vocabulary entry, or unk_id() when it is not one.
  int64_t token_to_id(std::string_view token) const;
  // The vocabulary entry of an id; oft::UsageError when out of range.
  const std::string& id_to_token(int64_t id) const;
  std::size_t vocab_size() const { return tokens_.size(); }
  int64_t unk_id() const { return unk_id_; }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t pad_id() const { return pad_id_; }
  const BertTokenizerOptions& options() const { return options_; }

 private:
  // Heterogeneous lookup, so pieces are looked up without building a std::string each time.
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Vocab = std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>>;

  // Ids of the text without [CLS]/[SEP]: special tokens written in it, and the pieces between them.
  std::vector<int64_t> piece_ids(std::string_view text) const;
  // Appends the ids of a stretch of text that holds no special token.
  void append_plain(std::u32string_view text, std::vector<int64_t>& ids) const;
  // Appends the WordPiece ids of one word (UTF-8).
  void append_word(const std::string& word, std::size_t chars, std::vector<int64_t>& ids) const;

  BertTokenizerOptions options_;
  Vocab vocab_;
  std::vector<std::string> tokens_;
  struct Special {
    std::u32string chars;
    int64_t id;
  };
  std::vector<Special> specials_;  // matched in the raw text, longest first
  int64_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, pad_id_ = 0;
};

}  // namespace oft::models
