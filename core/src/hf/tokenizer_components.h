#pragma once
// The stages of a tokenizer.json pipeline (internal to liboft_core), each built from its JSON object
// by a make_* function that throws oft::FormatError naming the component type and the supported
// ones when the type is not one the GPT-2, LLaMA, Qwen2 and Mistral layouts use.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace oft::models::tok {

// Rewrites the text of a stretch between added tokens.
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Splits (and rewrites) pieces. starts_text: pieces[0] begins at the start of the input text
// (Metaspace's prepend_scheme "first").
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void split(std::vector<std::string>& pieces, bool starts_text) const = 0;
};

// Adds the template's special ids around the ids of one sequence.
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int64_t>& ids) const = 0;
};

// Rewrites the list of tokens on the way back to text (`tokenizers`' decode_chain).
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a JSON null. PostProcessor templates name special tokens by id inside the JSON.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec);
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& spec);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& spec);

// The "type" of a component object; FormatError naming the stage when it has none.
std::string component_type(const nlohmann::json& spec, const char* stage);
[[noreturn]] void unsupported(const char* stage, const std::string& type, const char* supported);

}  // namespace oft::models::tok
