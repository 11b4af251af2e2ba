#pragma once
// A tokenizer.json's "added_tokens": found in the raw text before anything else runs (leftmost,
// longest first), honouring lstrip/rstrip (the match takes the white space beside it) and single_word
// (no match inside a word). Tokens with normalized=true are matched in the raw text as well, which
// equals `tokenizers` for the normalizers these layouts use (they leave such tokens unchanged).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace oft::models::tok {

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = false, lstrip = false, rstrip = false, single_word = false;
};

// A stretch of the input: plain text (id unset) or one added token.
struct Segment {
  std::string_view text;
  std::optional<int64_t> id;
  bool starts_text = false;  // begins at byte 0 of the input
};

class AddedTokens {
 public:
  // The "added_tokens" array; oft::FormatError naming the entry when one is malformed.
  explicit AddedTokens(const nlohmann::json& list);

  void split(std::string_view text, std::vector<Segment>& out) const;
  const AddedToken* by_id(int64_t id) const;
  std::optional<int64_t> id_of(std::string_view content) const;
  // The largest id + 1 (0 when there are none).
  std::size_t id_bound() const { return id_bound_; }

 private:
  std::vector<AddedToken> tokens_;
  std::vector<std::size_t> by_first_byte_[256];  // indexes into tokens_, longest content first
  std::unordered_map<int64_t, std::size_t> index_of_id_;
  std::size_t id_bound_ = 0;
};

}  // namespace oft::models::tok
