#pragma once
// The files of a model folder besides its weights and config.json that a folder written from the model
// needs to stay usable as the original: its tokenizer (what load_tokenizer reads, and transformers' other
// tokenizer files) and generation_config.json (generation's defaults and EOS).
#include <filesystem>
#include <string>
#include <vector>

#include "oft/export.h"

namespace oft::models {

// tokenizer.json, tokenizer.model, vocab.txt, tokenizer_config.json, special_tokens_map.json, vocab.json,
// merges.txt, added_tokens.json, chat_template.jinja, generation_config.json.
OFT_CORE_API const std::vector<std::string>& companion_file_names();

// Copies those of `from` that exist into the folder `to` (following links: a hub cache's links become
// files). FormatError naming the file when one cannot be copied.
OFT_CORE_API void copy_companion_files(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace oft::models
