// `oft generate`'s text stream (apps/oft/text_stream.cpp): prints the new complete suffix of the
// decoded continuation, holds a character split across tokens, never repeats or loses text.
#include <cstddef>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "text_stream.h"

namespace oft::app {
namespace {

// Each id is some bytes; decode joins them and, like byte-level decoders, shows a trailing incomplete
// UTF-8 sequence as U+FFFD. Id 0 is a special token (skipped when asked).
class BytesTokenizer : public models::TextTokenizer {
 public:
  explicit BytesTokenizer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}
  std::vector<int64_t> encode(std::string_view, bool) const override { return {}; }
  std::string decode(const std::vector<int64_t>& ids, bool skip_special) const override {
    std::string text;
    for (const int64_t id : ids)
      if (!(skip_special && id == 0)) text += pieces_.at(static_cast<size_t>(id));
    size_t start = text.size();  // start of the last character
    while (start > 0 && (static_cast<unsigned char>(text[start - 1]) & 0xC0) == 0x80) --start;
    if (start > 0) {
      const auto lead = static_cast<unsigned char>(text[start - 1]);
      const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (text.size() - (start - 1) < need) text = text.substr(0, start - 1) + "\xEF\xBF\xBD";
    }
    return text;
  }
  std::optional<int64_t> bos_id() const override { return std::nullopt; }
  std::optional<int64_t> eos_id() const override { return 0; }
  std::optional<int64_t> pad_id() const override { return std::nullopt; }
  std::size_t vocab_size() const override { return pieces_.size(); }

 private:
  std::vector<std::string> pieces_;
};

TEST(TextStream, PrintsEachNewCompleteSuffixOnce) {
  // "é" is C3 A9, split over ids 2 and 3.
  const BytesTokenizer tokenizer({"<eos>", "ab", "\xC3", "\xA9", " cd"});
  std::ostringstream out;
  TextStream stream(tokenizer, out);
  stream.add(1);
  EXPECT_EQ(out.str(), "ab");
  stream.add(2);
  EXPECT_EQ(out.str(), "ab") << "half a character is held back";
  stream.add(3);
  EXPECT_EQ(out.str(), "ab\xC3\xA9");
  stream.add(4);
  stream.add(0);
  stream.finish();
  EXPECT_EQ(out.str(), "ab\xC3\xA9 cd\n");
  EXPECT_EQ(stream.text(), "ab\xC3\xA9 cd");
}

TEST(TextStream, FinishWritesAnIncompleteCharacterAsTheTokenizerDecodesIt) {
  const BytesTokenizer tokenizer({"<eos>", "x", "\xE2\x82"});
  std::ostringstream out;
  TextStream stream(tokenizer, out);
  stream.add(1);
  stream.add(2);
  EXPECT_EQ(out.str(), "x");
  stream.finish();
  EXPECT_EQ(out.str(), "x\xEF\xBF\xBD\n");
}

}  // namespace
}  // namespace oft::app
