#pragma once
// A SentencePiece tokenizer.model (libsentencepiece), with BOS/EOS added as tokenizer_config.json's
// add_bos_token (default true) / add_eos_token (default false) say, as LLaMA's tokenizer does.
#include <filesystem>
#include <memory>

#include "oft/hf/text_tokenizer.h"

namespace oft::models::tok {

// oft::FormatError naming the file when SentencePiece cannot load it.
std::unique_ptr<TextTokenizer> load_sentencepiece(const std::filesystem::path& model_dir);

}  // namespace oft::models::tok
