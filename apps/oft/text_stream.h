#pragma once
// Prints generated text as it is produced: the continuation is decoded whole after each token (a
// token's text can depend on its neighbours, e.g. SentencePiece's leading space, or be part of a
// multi-byte character), and only the new complete suffix is written.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "oft/hf/text_tokenizer.h"

namespace oft::app {

class TextStream {
 public:
  TextStream(const models::TextTokenizer& tokenizer, std::ostream& out) : tokenizer_(tokenizer), out_(out) {}
  void add(int64_t id);
  // Writes what is left (also an incomplete character, as the tokenizer decodes it) and a newline.
  void finish();
  // The continuation's text, special tokens skipped.
  std::string text() const;

 private:
  void write_new(const std::string& text);
  const models::TextTokenizer& tokenizer_;
  std::ostream& out_;
  std::vector<int64_t> ids_;
  std::string printed_;
};

}  // namespace oft::app
