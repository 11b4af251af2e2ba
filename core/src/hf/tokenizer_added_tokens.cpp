#include "tokenizer_added_tokens.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "tokenizer_utf8.h"

namespace oft::models::tok {
namespace {

// Unicode White_Space (Rust's char::is_whitespace, which `tokenizers` strips with).
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

char32_t decode_at(std::string_view text, std::size_t i, std::size_t len) {
  const auto lead = static_cast<unsigned char>(text[i]);
  char32_t c = len == 1 ? lead : len == 2 ? (lead & 0x1F) : len == 3 ? (lead & 0x0F) : (lead & 0x07);
  for (std::size_t k = 1; k < len; ++k) c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  return c;
}

// Length of the white-space character that ends at text[end] (exclusive), or 0. Input is valid UTF-8.
std::size_t space_before(std::string_view text, std::size_t end) {
  std::size_t start = end;
  while (start > 0 && (static_cast<unsigned char>(text[start - 1]) & 0xC0) == 0x80) --start;
  if (start == 0) return 0;
  --start;
  return is_white_space(decode_at(text, start, end - start)) ? end - start : 0;
}

// Length of the white-space character that starts at text[start], or 0.
std::size_t space_at(std::string_view text, std::size_t start) {
  const std::size_t len = utf8_length(static_cast<unsigned char>(text[start]));
  return is_white_space(decode_at(text, start, len)) ? len : 0;
}
// Word characters for single_word: ASCII alphanumerics and underscore, and any non-ASCII byte.
bool is_word_byte(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80); }

}  // namespace

AddedTokens::AddedTokens(const nlohmann::json& list) {
  if (list.is_null()) return;
  if (!list.is_array()) throw FormatError("\"added_tokens\" must be an array");
  for (const auto& entry : list) {
    AddedToken token;
    token.content = entry.at("content").get<std::string>();
    token.id = entry.at("id").get<int64_t>();
    if (token.content.empty() || token.id < 0)
      throw FormatError("added token " + entry.dump() + " needs a non-empty content and an id >= 0");
    token.special = entry.value("special", false);
    token.lstrip = entry.value("lstrip", false);
    token.rstrip = entry.value("rstrip", false);
    token.single_word = entry.value("single_word", false);
    index_of_id_[token.id] = tokens_.size();
    id_bound_ = std::max(id_bound_, static_cast<std::size_t>(token.id) + 1);
    tokens_.push_back(std::move(token));
  }
  for (std::size_t i = 0; i < tokens_.size(); ++i)
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  for (auto& group : by_first_byte_)
    std::stable_sort(group.begin(), group.end(), [&](std::size_t a, std::size_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
}

const AddedToken* AddedTokens::by_id(int64_t id) const {
  const auto it = index_of_id_.find(id);
  return it == index_of_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int64_t> AddedTokens::id_of(std::string_view content) const {
  if (content.empty()) return std::nullopt;
  for (std::size_t i : by_first_byte_[static_cast<unsigned char>(content[0])])
    if (tokens_[i].content == content) return tokens_[i].id;
  return std::nullopt;
}

void AddedTokens::split(std::string_view text, std::vector<Segment>& out) const {
  std::size_t plain_start = 0;
  auto emit_plain = [&](std::size_t end) {
    if (end > plain_start) out.push_back({text.substr(plain_start, end - plain_start), std::nullopt, plain_start == 0});
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const AddedToken* found = nullptr;
    for (std::size_t t : by_first_byte_[static_cast<unsigned char>(text[i])]) {
      const AddedToken& token = tokens_[t];
      if (text.compare(i, token.content.size(), token.content) != 0) continue;
      const std::size_t end = i + token.content.size();
      if (token.single_word && ((i > 0 && is_word_byte(text[i - 1])) || (end < text.size() && is_word_byte(text[end]))))
        continue;
      found = &token;
      break;
    }
    if (!found) continue;
    std::size_t start = i, end = i + found->content.size();
    if (found->lstrip)
      for (std::size_t n; start > plain_start && (n = space_before(text, start)) > 0;) start -= n;
    if (found->rstrip)
      for (std::size_t n; end < text.size() && (n = space_at(text, end)) > 0;) end += n;
    emit_plain(start);
    out.push_back({text.substr(start, end - start), found->id, start == 0});
    plain_start = end;
    i = end - 1;
  }
  emit_plain(text.size());
}

}  // namespace oft::models::tok
