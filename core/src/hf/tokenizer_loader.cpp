// load_tokenizer(): picks the model folder's tokenizer file, and the BOS/EOS/PAD tokens its
// tokenizer_config.json / special_tokens_map.json name.
#include <fstream>

#include <nlohmann/json.hpp>

#include "json_tokenizer.h"
#include "oft/errors.h"
#include "oft/hf/text_tokenizer.h"
#include "oft/hf/tokenizer.h"
#include "sentencepiece_tokenizer.h"

namespace oft::models {

TextTokenizer::~TextTokenizer() = default;

namespace {

namespace fs = std::filesystem;

// BertTokenizer behind the TextTokenizer interface; decoding joins "##" pieces and drops the space
// before . ? ! , as transformers' BERT tokenizer (the WordPiece decoder with cleanup) does.
class WordPieceTokenizer : public TextTokenizer {
 public:
  explicit WordPieceTokenizer(const fs::path& dir) : bert_(BertTokenizer::from_pretrained(dir)) {}

  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens) const override {
    if (add_special_tokens) return bert_.encode(text);
    std::vector<int64_t> ids;
    for (const auto& piece : bert_.tokenize(text)) ids.push_back(bert_.token_to_id(piece));
    return ids;
  }

  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const override {
    const auto& o = bert_.options();
    std::string text;
    for (int64_t id : ids) {
      const std::string& token = bert_.id_to_token(id);
      if (skip_special_tokens && (token == o.cls_token || token == o.sep_token || token == o.pad_token ||
                                  token == o.unk_token || token == o.mask_token))
        continue;
      if (token.rfind("##", 0) == 0 && !text.empty()) {
        text += token.substr(2);
      } else {
        text += (text.empty() ? "" : " ") + token;
      }
    }
    for (const char* from : {" .", " ?", " !", " ,"})  // the `tokenizers` WordPiece decoder's cleanup
      for (std::size_t at; (at = text.find(from)) != std::string::npos;) text.erase(at, 1);
    return text;
  }

  std::optional<int64_t> bos_id() const override { return std::nullopt; }
  std::optional<int64_t> eos_id() const override { return std::nullopt; }
  std::optional<int64_t> pad_id() const override { return bert_.pad_id(); }
  std::size_t vocab_size() const override { return bert_.vocab_size(); }

 private:
  BertTokenizer bert_;
};

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return nlohmann::json::object();
  auto json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded() || !json.is_object()) throw FormatError(file.string() + " is not a JSON object");
  return json;
}

// The content of a special token entry: "<s>" or {"content": "<s>", ...}.
std::optional<std::string> token_content(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const auto& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  return std::nullopt;
}

tok::SpecialIds special_ids(const fs::path& dir, const tok::JsonTokenizer& tokenizer) {
  const auto config = read_json(dir / "tokenizer_config.json");
  const auto map = read_json(dir / "special_tokens_map.json");
  auto lookup = [&](const char* key) -> std::optional<int64_t> {
    auto content = token_content(config, key);
    if (!content) content = token_content(map, key);
    if (!content) return std::nullopt;
    const auto id = tokenizer.token_to_id(*content);
    if (!id)
      throw FormatError((dir / "tokenizer_config.json").string() + ": " + key + " \"" + *content +
                        "\" is not a token of tokenizer.json");
    return id;
  };
  return {lookup("bos_token"), lookup("eos_token"), lookup("pad_token")};
}

}  // namespace

std::unique_ptr<TextTokenizer> load_tokenizer(const fs::path& model_dir) {
  if (const auto file = model_dir / "tokenizer.json"; fs::exists(file)) {
    nlohmann::json spec;
    try {
      std::ifstream in(file, std::ios::binary);
      spec = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(file.string() + " is not a valid tokenizer.json: " + e.what());
    }
    if (!spec.is_object()) throw FormatError(file.string() + " is not a valid tokenizer.json: expected a JSON object");
    // BERT folders carry a WordPiece tokenizer.json next to vocab.txt: BertTokenizer runs that one.
    const bool word_piece =
        spec.contains("model") && spec["model"].is_object() && spec["model"].value("type", "") == "WordPiece";
    if (word_piece && fs::exists(model_dir / "vocab.txt")) return std::make_unique<WordPieceTokenizer>(model_dir);
    auto tokenizer = std::make_unique<tok::JsonTokenizer>(spec, file);
    tokenizer->set_special_ids(special_ids(model_dir, *tokenizer));
    return tokenizer;
  }
  if (fs::exists(model_dir / "tokenizer.model")) return tok::load_sentencepiece(model_dir);
  if (fs::exists(model_dir / "vocab.txt")) return std::make_unique<WordPieceTokenizer>(model_dir);
  throw FormatError(model_dir.string() + " has no tokenizer: expected tokenizer.json, tokenizer.model or vocab.txt");
}

}  // namespace oft::models
