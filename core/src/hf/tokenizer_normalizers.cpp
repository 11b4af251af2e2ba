// tokenizer.json normalizers: NFC/NFD/NFKC/NFKD (ICU), Lowercase, Prepend, Replace (string
// pattern), Sequence.
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "tokenizer_components.h"

namespace oft::models::tok {

std::string component_type(const nlohmann::json& spec, const char* stage) {
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string())
    throw FormatError(std::string(stage) + " must be an object with a \"type\"");
  return spec["type"].get<std::string>();
}

void unsupported(const char* stage, const std::string& type, const char* supported) {
  throw FormatError(std::string(stage) + " type \"" + type + "\" is not supported (supported: " + supported + ")");
}

namespace {

// ICU's normalizers, and its full lowercase mapping.
class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(const std::string& type) : lowercase_(type == "Lowercase") {
    UErrorCode status = U_ZERO_ERROR;
    if (type == "NFC") form_ = icu::Normalizer2::getNFCInstance(status);
    if (type == "NFD") form_ = icu::Normalizer2::getNFDInstance(status);
    if (type == "NFKC") form_ = icu::Normalizer2::getNFKCInstance(status);
    if (type == "NFKD") form_ = icu::Normalizer2::getNFKDInstance(status);
    if (U_FAILURE(status)) throw FormatError("ICU has no " + type + " normalizer");
  }
  void normalize(std::string& text) const override {
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
    if (lowercase_) {
      u.toLower(icu::Locale::getRoot());
    } else {
      UErrorCode status = U_ZERO_ERROR;
      if (form_->isNormalized(u, status) && U_SUCCESS(status)) return;
      status = U_ZERO_ERROR;
      u = form_->normalize(u, status);
    }
    text.clear();
    u.toUTF8String(text);
  }

 private:
  const icu::Normalizer2* form_ = nullptr;
  bool lowercase_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Replace : public Normalizer {
 public:
  Replace(std::string pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    if (text.find(pattern_) == std::string::npos) return;
    std::string out;
    out.reserve(text.size());
    std::size_t from = 0;
    for (std::size_t at; (at = text.find(pattern_, from)) != std::string::npos; from = at + pattern_.size()) {
      out.append(text, from, at - from);
      out += content_;
    }
    out.append(text, from, std::string::npos);
    text = std::move(out);
  }

 private:
  std::string pattern_, content_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& part : parts_) part->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = component_type(spec, "normalizer");
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD" || type == "Lowercase")
    return std::make_unique<UnicodeNormalizer>(type);
  if (type == "Prepend") return std::make_unique<Prepend>(spec.at("prepend").get<std::string>());
  if (type == "Replace") {
    const auto& pattern = spec.at("pattern");
    if (!pattern.contains("String"))
      throw FormatError("normalizer Replace: only a {\"String\": ...} pattern is supported");
    return std::make_unique<Replace>(pattern["String"].get<std::string>(), spec.at("content").get<std::string>());
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& part : spec.at("normalizers"))
      if (auto made = make_normalizer(part)) parts.push_back(std::move(made));
    return std::make_unique<Sequence>(std::move(parts));
  }
  unsupported("normalizer", type, "NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Sequence");
}

}  // namespace oft::models::tok
