#include "json_tokenizer.h"

#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "tokenizer_utf8.h"

namespace oft::models::tok {

JsonTokenizer::JsonTokenizer(const nlohmann::json& spec, const std::filesystem::path& file) {
  try {
    const auto& model = spec.at("model");
    const std::string type = model.value("type", "BPE");
    if (type != "BPE") unsupported("model", type, "BPE (WordPiece folders load from vocab.txt)");
    added_ = std::make_unique<AddedTokens>(spec.value("added_tokens", nlohmann::json()));
    normalizer_ = make_normalizer(spec.value("normalizer", nlohmann::json()));
    pre_tokenizer_ = make_pre_tokenizer(spec.value("pre_tokenizer", nlohmann::json()));
    model_ = std::make_unique<Bpe>(model);
    post_processor_ = make_post_processor(spec.value("post_processor", nlohmann::json()));
    decoder_ = make_decoder(spec.value("decoder", nlohmann::json()));
  } catch (const FormatError& e) {
    throw FormatError(file.string() + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(file.string() + " is not a valid tokenizer.json: " + e.what());
  }
}

std::vector<int64_t> JsonTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  check_utf8(text);
  std::vector<Segment> segments;
  added_->split(text, segments);
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 2);
  std::vector<std::string> pieces;
  for (const Segment& segment : segments) {
    if (segment.id) {
      ids.push_back(*segment.id);
      continue;
    }
    std::string normalized(segment.text);
    if (normalizer_) normalizer_->normalize(normalized);
    if (normalized.empty()) continue;
    pieces.assign(1, std::move(normalized));
    if (pre_tokenizer_) pre_tokenizer_->split(pieces, segment.starts_text);
    for (const auto& piece : pieces) model_->tokenize(piece, ids);
  }
  if (add_special_tokens && post_processor_) post_processor_->process(ids);
  return ids;
}

std::string JsonTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    if (const AddedToken* added = added_->by_id(id)) {
      if (!(skip_special_tokens && added->special)) tokens.push_back(added->content);
    } else if (const std::string* token = model_->id_to_token(id)) {
      tokens.push_back(*token);
    } else {
      throw UsageError("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                       std::to_string(vocab_size()) + ")");
    }
  }
  if (!decoder_) {  // `tokenizers` joins the tokens with spaces when there is no decoder
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  decoder_->decode(tokens);
  std::string out;
  for (const auto& token : tokens) out += token;
  return out;
}

std::size_t JsonTokenizer::vocab_size() const { return std::max(model_->size(), added_->id_bound()); }

std::optional<int64_t> JsonTokenizer::token_to_id(std::string_view token) const {
  if (auto id = added_->id_of(token)) return id;
  return model_->token_to_id(token);
}

}  // namespace oft::models::tok
