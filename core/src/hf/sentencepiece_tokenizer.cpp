#include "sentencepiece_tokenizer.h"

#include <fstream>

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include "oft/errors.h"
#include "tokenizer_utf8.h"

namespace oft::models::tok {
namespace {

class SentencePieceTokenizer : public TextTokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& dir) {
    const auto file = dir / "tokenizer.model";
    if (const auto status = processor_.Load(file.string()); !status.ok())
      throw FormatError(file.string() + " is not a SentencePiece model: " + status.ToString());
    if (std::ifstream in(dir / "tokenizer_config.json"); in) {
      const auto config = nlohmann::json::parse(in, nullptr, false);
      if (config.is_discarded()) throw FormatError((dir / "tokenizer_config.json").string() + " is not valid JSON");
      add_bos_ = config.value("add_bos_token", true);
      add_eos_ = config.value("add_eos_token", false);
    }
  }

  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens) const override {
    check_utf8(text);
    std::vector<int> pieces;
    if (const auto status = processor_.Encode(text, &pieces); !status.ok())
      throw UsageError("SentencePiece could not encode the text: " + status.ToString());
    std::vector<int64_t> ids;
    ids.reserve(pieces.size() + 2);
    if (add_special_tokens && add_bos_ && bos_id()) ids.push_back(*bos_id());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    if (add_special_tokens && add_eos_ && eos_id()) ids.push_back(*eos_id());
    return ids;
  }

  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const override {
    std::vector<int> pieces;
    pieces.reserve(ids.size());
    for (int64_t id : ids) {
      if (id < 0 || static_cast<std::size_t>(id) >= vocab_size())
        throw UsageError("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                         std::to_string(vocab_size()) + ")");
      if (!(skip_special_tokens && processor_.IsControl(static_cast<int>(id)))) pieces.push_back(static_cast<int>(id));
    }
    std::string text;
    if (const auto status = processor_.Decode(pieces, &text); !status.ok())
      throw UsageError("SentencePiece could not decode the ids: " + status.ToString());
    return text;
  }

  std::optional<int64_t> bos_id() const override { return known(processor_.bos_id()); }
  std::optional<int64_t> eos_id() const override { return known(processor_.eos_id()); }
  std::optional<int64_t> pad_id() const override { return known(processor_.pad_id()); }
  std::size_t vocab_size() const override { return static_cast<std::size_t>(processor_.GetPieceSize()); }

 private:
  static std::optional<int64_t> known(int id) { return id >= 0 ? std::optional<int64_t>(id) : std::nullopt; }

  sentencepiece::SentencePieceProcessor processor_;
  bool add_bos_ = true, add_eos_ = false;
};

}  // namespace

std::unique_ptr<TextTokenizer> load_sentencepiece(const std::filesystem::path& model_dir) {
  return std::make_unique<SentencePieceTokenizer>(model_dir);
}

}  // namespace oft::models::tok
