#include "text_stream.h"

namespace oft::app {
namespace {

// U+FFFD, what decoders put for the bytes of a character that is not complete yet.
constexpr char kReplacement[] = "\xEF\xBF\xBD";

bool ends_incomplete(const std::string& text) {
  return text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
}

}  // namespace

std::string TextStream::text() const { return tokenizer_.decode(ids_, /*skip_special_tokens=*/true); }

void TextStream::write_new(const std::string& text) {
  // Decoding more tokens may rewrite earlier text (rare); then wait until it extends what was printed.
  if (text.size() <= printed_.size() || text.compare(0, printed_.size(), printed_) != 0) return;
  out_ << text.substr(printed_.size()) << std::flush;
  printed_ = text;
}

void TextStream::add(int64_t id) {
  ids_.push_back(id);
  const std::string decoded = text();
  if (!ends_incomplete(decoded)) write_new(decoded);
}

void TextStream::finish() {
  write_new(text());
  out_ << '\n' << std::flush;
}

}  // namespace oft::app
