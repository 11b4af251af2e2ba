#pragma once
// A Hugging Face tokenizer.json run natively: added tokens, normalizer, pre-tokenizer, BPE model,
// post-processor and decoder (internal to liboft_core; load_tokenizer() returns it).
#include <filesystem>
#include <memory>

#include <nlohmann/json_fwd.hpp>

#include "bpe.h"
#include "oft/hf/text_tokenizer.h"
#include "tokenizer_added_tokens.h"
#include "tokenizer_components.h"

namespace oft::models::tok {

struct SpecialIds {
  std::optional<int64_t> bos, eos, pad;
};

class JsonTokenizer : public TextTokenizer {
 public:
  // The parsed tokenizer.json; oft::FormatError naming the file and the component when it is malformed
  // or unsupported.
  JsonTokenizer(const nlohmann::json& spec, const std::filesystem::path& file);

  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const override;
  std::optional<int64_t> bos_id() const override { return special_.bos; }
  std::optional<int64_t> eos_id() const override { return special_.eos; }
  std::optional<int64_t> pad_id() const override { return special_.pad; }
  std::size_t vocab_size() const override;

  // An added token's or vocabulary entry's id.
  std::optional<int64_t> token_to_id(std::string_view token) const;
  void set_special_ids(SpecialIds ids) { special_ = ids; }

 private:
  std::unique_ptr<AddedTokens> added_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Bpe> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  SpecialIds special_;
};

}  // namespace oft::models::tok
