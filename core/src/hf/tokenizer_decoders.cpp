// tokenizer.json decoders, each as `tokenizers`' decode_chain on the list of tokens: ByteLevel,
// Metaspace, ByteFallback, Fuse, Strip, Replace (string pattern), Sequence.
#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "tokenizer_byte_level.h"
#include "tokenizer_components.h"
#include "tokenizer_utf8.h"

namespace oft::models::tok {
namespace {

const std::string kReplacementChar = "\xEF\xBF\xBD";

// Decodes one UTF-8 character at text[i], advancing i.
char32_t next_char(const std::string& text, std::size_t& i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  const std::size_t len = std::min(utf8_length(lead), text.size() - i);
  char32_t c = len == 1 ? lead : len == 2 ? (lead & 0x1F) : len == 3 ? (lead & 0x0F) : (lead & 0x07);
  for (std::size_t k = 1; k < len; ++k) c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  i += len;
  return c;
}

// Characters back to bytes; a token with a character outside the table is kept as its UTF-8 bytes.
class ByteLevel : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& token : tokens) {
      std::string mapped;
      bool ok = true;
      for (std::size_t i = 0; i < token.size() && ok;) {
        const int b = byte_level_byte(next_char(token, i));
        ok = b >= 0;
        mapped.push_back(static_cast<char>(b));
      }
      bytes += ok ? mapped : token;
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class Metaspace : public Decoder {
 public:
  Metaspace(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      std::string out;
      const std::string& token = tokens[t];
      for (std::size_t i = 0; i < token.size();) {
        if (token.compare(i, replacement_.size(), replacement_) == 0) {
          if (!(t == 0 && strip_first_)) out += ' ';
          i += replacement_.size();
        } else {
          out += token[i++];
        }
      }
      tokens[t] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

// <0xNN> runs become their bytes when those are valid UTF-8, else one U+FFFD per byte.
class ByteFallback : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    std::size_t count = 0;
    auto flush = [&] {
      if (count == 0) return;
      if (utf8_lossy(bytes) == bytes) {
        out.push_back(bytes);
      } else {
        for (std::size_t k = 0; k < count; ++k) out.push_back(kReplacementChar);
      }
      bytes.clear();
      count = 0;
    };
    for (auto& token : tokens) {
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' &&
          std::isxdigit(static_cast<unsigned char>(token[3])) && std::isxdigit(static_cast<unsigned char>(token[4]))) {
        bytes.push_back(static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16)));
        ++count;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class Fuse : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& token : tokens) all += token;
    tokens.assign(1, std::move(all));
  }
};

class Strip : public Decoder {
 public:
  Strip(std::string content, std::size_t start, std::size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode(std::vector<std::string>& tokens) const override {
    const std::size_t n = content_.size();
    for (auto& token : tokens) {
      std::size_t from = 0, to = token.size();
      for (std::size_t k = 0; k < start_ && to - from >= n && token.compare(from, n, content_) == 0; ++k) from += n;
      for (std::size_t k = 0; k < stop_ && to - from >= n && token.compare(to - n, n, content_) == 0; ++k) to -= n;
      token = token.substr(from, to - from);
    }
  }

 private:
  std::string content_;
  std::size_t start_, stop_;
};

class Replace : public Decoder {
 public:
  Replace(std::string pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) {
      std::string out;
      std::size_t from = 0;
      for (std::size_t at; (at = token.find(pattern_, from)) != std::string::npos; from = at + pattern_.size()) {
        out.append(token, from, at - from);
        out += content_;
      }
      out.append(token, from, std::string::npos);
      token = std::move(out);
    }
  }

 private:
  std::string pattern_, content_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (const auto& part : parts_) part->decode(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = component_type(spec, "decoder");
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Metaspace") {
    const bool strip_first = spec.contains("prepend_scheme") ? spec["prepend_scheme"].get<std::string>() != "never"
                                                             : spec.value("add_prefix_space", true);
    return std::make_unique<Metaspace>(spec.at("replacement").get<std::string>(), strip_first);
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip")
    return std::make_unique<Strip>(spec.at("content").get<std::string>(), spec.at("start").get<std::size_t>(),
                                   spec.at("stop").get<std::size_t>());
  if (type == "Replace") {
    const auto& pattern = spec.at("pattern");
    if (!pattern.contains("String"))
      throw FormatError("decoder Replace: only a {\"String\": ...} pattern is supported");
    return std::make_unique<Replace>(pattern["String"].get<std::string>(), spec.at("content").get<std::string>());
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const auto& part : spec.at("decoders"))
      if (auto made = make_decoder(part)) parts.push_back(std::move(made));
    return std::make_unique<Sequence>(std::move(parts));
  }
  unsupported("decoder", type, "ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence");
}

}  // namespace oft::models::tok
