// tokenizer.json pre-tokenizers: ByteLevel (GPT-2 regex, prefix space), Split (regex or string,
// behaviors isolated/removed/merged_with_previous/merged_with_next), Metaspace, Sequence. Regexes
// run on ICU; `\s` is rewritten to Unicode White_Space, the class Oniguruma (`tokenizers`) uses.
#include <array>

#include <unicode/regex.h>
#include <unicode/utext.h>

#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "tokenizer_byte_level.h"
#include "tokenizer_components.h"
#include "tokenizer_utf8.h"

namespace oft::models::tok {

const std::string& byte_level_char(unsigned char byte) {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      append_utf8(printable ? static_cast<char32_t>(b) : next++, t[static_cast<std::size_t>(b)]);
    }
    return t;
  }();
  return table[byte];
}

int byte_level_byte(char32_t c) {
  static const std::array<int, 512> table = [] {
    std::array<int, 512> t;
    t.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[printable ? static_cast<std::size_t>(b) : static_cast<std::size_t>(next++)] = b;
    }
    return t;
  }();
  return c < 512 ? table[c] : -1;
}

namespace {

constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class Behavior { Isolated, Removed, MergedWithPrevious, MergedWithNext };

// Oniguruma's \s is Unicode White_Space; ICU's lacks U+000B and U+0085.
std::string to_icu_pattern(const std::string& pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      const char c = pattern[++i];
      out += c == 's' ? "\\p{White_Space}" : c == 'S' ? "\\P{White_Space}" : std::string{'\\', c};
    } else {
      out += pattern[i];
    }
  }
  return out;
}

class RegexSplitter {
 public:
  RegexSplitter(const std::string& pattern, bool literal) {
    UErrorCode status = U_ZERO_ERROR;
    UParseError where{};
    const icu::UnicodeString source = icu::UnicodeString::fromUTF8(literal ? pattern : to_icu_pattern(pattern));
    pattern_.reset(icu::RegexPattern::compile(source, literal ? UREGEX_LITERAL : 0, where, status));
    if (U_FAILURE(status))
      throw FormatError("pre_tokenizer regex \"" + pattern + "\" is not supported by ICU (" + u_errorName(status) +
                        " at offset " + std::to_string(where.offset) + ")");
  }

  // Splits every piece at the matches, keeping what `behavior` keeps.
  void split(std::vector<std::string>& pieces, Behavior behavior) const {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::RegexMatcher> matcher(pattern_->matcher(status));
    std::vector<std::string> out;
    out.reserve(pieces.size());
    for (const std::string& piece : pieces) {
      UText text = UTEXT_INITIALIZER;
      utext_openUTF8(&text, piece.data(), static_cast<int64_t>(piece.size()), &status);
      matcher->reset(&text);
      std::size_t last = 0;
      std::string pending;  // MergedWithNext: a match waiting for the text after it
      auto emit = [&](std::string s) {
        if (!s.empty()) out.push_back(std::move(s));
      };
      while (matcher->find(status)) {
        const auto start = static_cast<std::size_t>(matcher->start64(status));
        const auto end = static_cast<std::size_t>(matcher->end64(status));
        if (start == end) continue;
        std::string gap = piece.substr(last, start - last), match = piece.substr(start, end - start);
        switch (behavior) {
          case Behavior::Isolated:
            emit(std::move(gap));
            emit(std::move(match));
            break;
          case Behavior::Removed: emit(std::move(gap)); break;
          case Behavior::MergedWithPrevious: emit(gap + match); break;
          case Behavior::MergedWithNext:
            emit(pending + gap);
            pending = std::move(match);
            break;
        }
        last = end;
      }
      emit(pending + piece.substr(last));
      utext_close(&text);
    }
    if (U_FAILURE(status)) throw UsageError(std::string("tokenizer regex failed: ") + u_errorName(status));
    pieces = std::move(out);
  }

 private:
  std::unique_ptr<icu::RegexPattern> pattern_;
};

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<RegexSplitter>(kGpt2Pattern, false);
  }
  void split(std::vector<std::string>& pieces, bool) const override {
    if (add_prefix_space_)
      for (auto& piece : pieces)
        if (!piece.empty() && piece[0] != ' ') piece.insert(0, 1, ' ');
    if (regex_) regex_->split(pieces, Behavior::Isolated);
    for (auto& piece : pieces) {
      std::string mapped;
      mapped.reserve(piece.size() * 2);
      for (char c : piece) mapped += byte_level_char(static_cast<unsigned char>(c));
      piece = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<RegexSplitter> regex_;
};

class Split : public PreTokenizer {
 public:
  Split(const std::string& pattern, bool literal, Behavior behavior) : regex_(pattern, literal), behavior_(behavior) {}
  void split(std::vector<std::string>& pieces, bool) const override { regex_.split(pieces, behavior_); }

 private:
  RegexSplitter regex_;
  Behavior behavior_;
};

class Metaspace : public PreTokenizer {
 public:
  enum class Prepend { Always, First, Never };
  Metaspace(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void split(std::vector<std::string>& pieces, bool starts_text) const override {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      std::string piece;
      for (char c : pieces[i]) c == ' ' ? piece += replacement_ : piece += c;
      const bool at_start = starts_text && i == 0;
      if (!piece.empty() && piece.compare(0, replacement_.size(), replacement_) != 0 &&
          (prepend_ == Prepend::Always || (prepend_ == Prepend::First && at_start)))
        piece.insert(0, replacement_);
      if (!split_) {
        out.push_back(std::move(piece));
        continue;
      }
      // Merged with next: each replacement character starts a new piece.
      std::size_t from = 0;
      for (std::size_t at = piece.find(replacement_, 1); at != std::string::npos;
           at = piece.find(replacement_, at + 1)) {
        out.push_back(piece.substr(from, at - from));
        from = at;
      }
      out.push_back(piece.substr(from));
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void split(std::vector<std::string>& pieces, bool starts_text) const override {
    for (const auto& part : parts_) part->split(pieces, starts_text);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

Behavior parse_behavior(const std::string& name) {
  if (name == "Isolated") return Behavior::Isolated;
  if (name == "Removed") return Behavior::Removed;
  if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::MergedWithNext;
  throw FormatError("pre_tokenizer Split behavior \"" + name +
                    "\" is not supported (supported: Isolated, Removed, MergedWithPrevious, MergedWithNext)");
}

Metaspace::Prepend parse_prepend(const nlohmann::json& spec) {
  if (!spec.contains("prepend_scheme"))
    return spec.value("add_prefix_space", true) ? Metaspace::Prepend::Always : Metaspace::Prepend::Never;
  const auto scheme = spec["prepend_scheme"].get<std::string>();
  if (scheme == "always") return Metaspace::Prepend::Always;
  if (scheme == "first") return Metaspace::Prepend::First;
  if (scheme == "never") return Metaspace::Prepend::Never;
  throw FormatError("Metaspace prepend_scheme \"" + scheme + "\" is not one of always, first, never");
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = component_type(spec, "pre_tokenizer");
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(spec.value("add_prefix_space", true), spec.value("use_regex", true));
  if (type == "Split") {
    if (spec.value("invert", false)) throw FormatError("pre_tokenizer Split with invert=true is not supported");
    const auto& pattern = spec.at("pattern");
    const bool literal = pattern.contains("String");
    if (!literal && !pattern.contains("Regex"))
      throw FormatError("pre_tokenizer Split: pattern must be {\"String\": ...} or {\"Regex\": ...}");
    return std::make_unique<Split>(pattern[literal ? "String" : "Regex"].get<std::string>(), literal,
                                   parse_behavior(spec.at("behavior").get<std::string>()));
  }
  if (type == "Metaspace")
    return std::make_unique<Metaspace>(spec.at("replacement").get<std::string>(), parse_prepend(spec),
                                       spec.value("split", true));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& part : spec.at("pretokenizers"))
      if (auto made = make_pre_tokenizer(part)) parts.push_back(std::move(made));
    return std::make_unique<Sequence>(std::move(parts));
  }
  unsupported("pre_tokenizer", type, "ByteLevel, Split, Metaspace, Sequence");
}

}  // namespace oft::models::tok
