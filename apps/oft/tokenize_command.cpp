// `oft tokenize --model DIR [--json] [--no-special-tokens] TEXT...`: the ids of each text with the
// model folder's tokenizer (tokenizer.json, tokenizer.model or vocab.txt), one line per text.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "oft/hf/text_tokenizer.h"

namespace oft::app {
namespace {

struct TokenizeOptions {
  std::string model;
  std::vector<std::string> texts;
  bool json = false;
  bool no_special_tokens = false;
};

void run_tokenize(const TokenizeOptions& o) {
  const auto tokenizer = models::load_tokenizer(o.model);
  for (const auto& text : o.texts) {
    const auto ids = tokenizer->encode(text, !o.no_special_tokens);
    if (o.json) {
      std::cout << nlohmann::json{{"text", text}, {"ids", ids}}.dump() << '\n';
      continue;
    }
    for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << '\n';
  }
  std::cout.flush();
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of texts with a model folder's tokenizer");
  cmd->add_option("--model", options->model, "model folder (tokenizer.json, tokenizer.model or vocab.txt)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--json", options->json, "one {\"ids\", \"text\"} JSON object per line");
  cmd->add_flag("--no-special-tokens", options->no_special_tokens, "leave out the template's BOS/EOS/CLS/SEP");
  cmd->add_option("texts", options->texts, "texts to tokenize (UTF-8)")->required();
  cmd->callback([options] { run_tokenize(*options); });
}

}  // namespace oft::app
