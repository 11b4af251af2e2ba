#pragma once
// The BPE model of a tokenizer.json ("model": {"type": "BPE"}), with the results of `tokenizers`:
// a word starts as its characters (unknown ones as <0xNN> byte tokens with byte_fallback, else the unk
// token, consecutive ones fused with fuse_unk), then the pair of lowest merge rank is merged until no
// pair has a rank (leftmost first among equal ranks). Results of short words are cached.
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace oft::models::tok {

class Bpe {
 public:
  // Reads the "model" object; oft::FormatError naming the key when it is malformed or uses an
  // unsupported option (dropout, continuing_subword_prefix, end_of_word_suffix).
  explicit Bpe(const nlohmann::json& model);

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int64_t>& ids) const;

  std::optional<int64_t> token_to_id(std::string_view token) const;
  // nullptr when the id is not in the vocabulary.
  const std::string* id_to_token(int64_t id) const;
  std::size_t size() const { return tokens_.size(); }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Merge {
    uint32_t rank;
    int64_t id;
  };
  static uint64_t pair_key(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b); }
  void merge_word(std::string_view word, std::vector<int64_t>& ids) const;

  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> vocab_;
  std::vector<std::string> tokens_;  // by id; empty where the vocabulary has a gap
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int64_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  int64_t byte_ids_[256];  // <0xNN> ids, -1 where missing

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace oft::models::tok
