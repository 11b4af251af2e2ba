#include "oft/hf/companion_files.h"

#include "oft/errors.h"

namespace oft::models {

namespace fs = std::filesystem;

const std::vector<std::string>& companion_file_names() {
  static const std::vector<std::string> names = {
      "tokenizer.json", "tokenizer.model", "vocab.txt",         "tokenizer_config.json", "special_tokens_map.json",
      "vocab.json",     "merges.txt",      "added_tokens.json", "chat_template.jinja",   "generation_config.json"};
  return names;
}

void copy_companion_files(const fs::path& from, const fs::path& to) {
  for (const auto& name : companion_file_names()) {
    const fs::path source = from / name;
    std::error_code ec;
    if (!fs::is_regular_file(source, ec)) continue;
    fs::copy_file(source, to / name, fs::copy_options::overwrite_existing, ec);
    if (ec) throw FormatError("cannot copy " + source.string() + " to " + (to / name).string() + ": " + ec.message());
  }
}

}  // namespace oft::models
