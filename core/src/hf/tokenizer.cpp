#include "oft/hf/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include <nlohmann/json.hpp>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "hf/tokenizer_utf8.h"
#include "oft/errors.h"

namespace oft::models {
namespace {

using tok::append_utf8;

// --- UTF-8 <-> code points ------------------------------------------------------------------------

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    std::size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
    char32_t c = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    bool ok = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      ok = (b & 0xC0) == 0x80;
      c = (c << 6) | (b & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF, as a strict decoder does.
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && c >= kMin[len] && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    if (!ok) throw UsageError("tokenizer input is not valid UTF-8 at byte " + std::to_string(i));
    out.push_back(c);
    i += len;
  }
  return out;
}

std::u16string to_utf16(const std::u32string& text) {
  std::u16string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x10000) {
      out.push_back(static_cast<char16_t>(c));
    } else {
      out.push_back(static_cast<char16_t>(U16_LEAD(c)));
      out.push_back(static_cast<char16_t>(U16_TRAIL(c)));
    }
  }
  return out;
}

template <typename Keep>
std::u32string from_utf16(const UChar* text, int32_t length, Keep keep) {
  std::u32string out;
  out.reserve(static_cast<std::size_t>(length));
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U16_NEXT(text, i, length, c);
    if (keep(c)) out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

void check_icu(UErrorCode status, const char* what) {
  if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU ") + what + " failed: " + u_errorName(status));
}

// --- Character classes, as BERT's normalizer and pre-tokenizer define them --------------------------

bool is_control(char32_t c) {
  if (c == U'\t' || c == U'\n' || c == U'\r') return false;
  // Control, format, private use, surrogate. Unassigned code points stay (they end up as [UNK]),
  // as in the Rust tokenizers library; the Python original drops them.
  return (U_GET_GC_MASK(c) & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK)) != 0;
}

bool is_whitespace(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\r' || u_isUWhiteSpace(static_cast<UChar32>(c));
}

bool is_punctuation(char32_t c) {
  // BERT counts every ASCII non-alphanumeric symbol ($, +, ^, ...) as punctuation, not only P*.
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return (U_GET_GC_MASK(c) & U_GC_P_MASK) != 0;
}

// The CJK Unified Ideographs blocks BERT spaces out (not Hiragana, Katakana or Hangul, which are
// written with spaces in the training data).
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// --- Normalization steps ----------------------------------------------------------------------------

std::u32string clean_and_space_cjk(std::u32string_view text, bool space_cjk) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      out.push_back(U' ');
    } else if (space_cjk && is_cjk(c)) {
      out.push_back(U' ');
      out.push_back(c);
      out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool all_ascii(const std::u32string& text) {
  return std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; });
}

// NFD, then drop nonspacing marks (the accents NFD split off).
std::u32string strip_accents(const std::u32string& text) {
  if (all_ascii(text)) return text;
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* nfd = unorm2_getNFDInstance(&status);
  check_icu(status, "NFD instance");
  const std::u16string src = to_utf16(text);
  const auto* src_ptr = reinterpret_cast<const UChar*>(src.data());
  const auto src_len = static_cast<int32_t>(src.size());
  // A decomposition is at most a few times longer; ask ICU for the size when it is not enough.
  std::u16string dst(src.size() * 3 + 16, u'\0');
  int32_t len = unorm2_normalize(nfd, src_ptr, src_len, reinterpret_cast<UChar*>(dst.data()),
                                 static_cast<int32_t>(dst.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    dst.assign(static_cast<std::size_t>(len), u'\0');
    len = unorm2_normalize(nfd, src_ptr, src_len, reinterpret_cast<UChar*>(dst.data()), len, &status);
  }
  check_icu(status, "NFD normalization");
  return from_utf16(reinterpret_cast<const UChar*>(dst.data()), len,
                    [](UChar32 c) { return u_charType(c) != U_NON_SPACING_MARK; });
}

// Full lowercase mapping, one character at a time: no context rules, so a final capital sigma
// becomes σ, not ς (what the Rust tokenizers library does; Python's str.lower() gives ς).
std::u32string lowercase(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(c >= U'A' && c <= U'Z' ? c + 32 : c);
      continue;
    }
    const std::u16string one = to_utf16(std::u32string(1, c));
    UChar lower[8];  // the longest full lowercase mapping is 3 UTF-16 units
    UErrorCode status = U_ZERO_ERROR;
    const int32_t len = u_strToLower(lower, 8, reinterpret_cast<const UChar*>(one.data()),
                                     static_cast<int32_t>(one.size()), "", &status);
    check_icu(status, "lowercase mapping");
    out += from_utf16(lower, len, [](UChar32) { return true; });
  }
  return out;
}

// --- Loading ----------------------------------------------------------------------------------------

// A tokenizer_config.json special token: a string, or an object with "content" (AddedToken).
std::string special_token(const nlohmann::json& config, const char* key, const std::string& fallback,
                          const std::filesystem::path& file) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  const auto& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  throw FormatError(file.string() + ": \"" + key + "\" must be a string or an object with a string \"content\", got " +
                    value.dump());
}

bool flag(const nlohmann::json& config, const char* key, bool fallback, const std::filesystem::path& file) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  if (!config[key].is_boolean())
    throw FormatError(file.string() + ": \"" + key + "\" must be true or false, got " + config[key].dump());
  return config[key].get<bool>();
}

}  // namespace

BertTokenizer::BertTokenizer(const std::filesystem::path& vocab_file, BertTokenizerOptions options)
    : options_(std::move(options)) {
  std::ifstream in(vocab_file, std::ios::binary);
  if (!in)
    throw FormatError("cannot open the WordPiece vocabulary " + vocab_file.string() +
                      " (expected vocab.txt, one token per line)");
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    // A repeated token keeps its last line's id, as transformers' vocab loader does.
    vocab_[line] = static_cast<int64_t>(tokens_.size());
    tokens_.push_back(line);
  }
  if (in.bad()) throw FormatError("error while reading the WordPiece vocabulary " + vocab_file.string());

  const auto required = [&](const std::string& token, const char* role) {
    const auto it = vocab_.find(token);
    if (it == vocab_.end())
      throw FormatError("the WordPiece vocabulary " + vocab_file.string() + " has no " + role + " token \"" + token +
                        "\" (" + std::to_string(tokens_.size()) + " lines read)");
    specials_.push_back({decode_utf8(token), it->second});
    return it->second;
  };
  unk_id_ = required(options_.unk_token, "unknown");
  sep_id_ = required(options_.sep_token, "separator");
  pad_id_ = required(options_.pad_token, "padding");
  cls_id_ = required(options_.cls_token, "classifier");
  if (const auto it = vocab_.find(options_.mask_token); it != vocab_.end())
    specials_.push_back({decode_utf8(options_.mask_token), it->second});
  std::sort(specials_.begin(), specials_.end(),
            [](const Special& a, const Special& b) { return a.chars.size() > b.chars.size(); });
}

BertTokenizer BertTokenizer::from_pretrained(const std::filesystem::path& dir) {
  BertTokenizerOptions options;
  const auto config_file = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_file)) {
    std::ifstream in(config_file);
    nlohmann::json config;
    try {
      config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(config_file.string() + " is not valid JSON: " + e.what());
    }
    if (!config.is_object()) throw FormatError(config_file.string() + " must hold a JSON object");
    options.lowercase = flag(config, "do_lower_case", options.lowercase, config_file);
    if (config.contains("strip_accents") && !config["strip_accents"].is_null())
      options.strip_accents = flag(config, "strip_accents", false, config_file);
    options.tokenize_chinese_chars =
        flag(config, "tokenize_chinese_chars", options.tokenize_chinese_chars, config_file);
    options.unk_token = special_token(config, "unk_token", options.unk_token, config_file);
    options.sep_token = special_token(config, "sep_token", options.sep_token, config_file);
    options.pad_token = special_token(config, "pad_token", options.pad_token, config_file);
    options.cls_token = special_token(config, "cls_token", options.cls_token, config_file);
    options.mask_token = special_token(config, "mask_token", options.mask_token, config_file);
  }
  return BertTokenizer(dir / "vocab.txt", std::move(options));
}

void BertTokenizer::append_word(const std::string& word, std::size_t chars, std::vector<int64_t>& ids) const {
  if (chars > options_.max_input_chars_per_word) {
    ids.push_back(unk_id_);
    return;
  }
  // Byte offset of every character boundary, so pieces are cut between characters.
  std::vector<std::size_t> bounds;
  bounds.reserve(chars + 1);
  for (std::size_t i = 0; i < word.size(); ++i)
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) bounds.push_back(i);
  bounds.push_back(word.size());

  const std::size_t first = ids.size();
  std::string candidate;
  for (std::size_t start = 0; start + 1 < bounds.size();) {
    std::size_t end = bounds.size() - 1;
    int64_t id = -1;
    for (; end > start; --end) {
      candidate.assign(start > 0 ? "##" : "");
      candidate.append(word, bounds[start], bounds[end] - bounds[start]);
      if (const auto it = vocab_.find(candidate); it != vocab_.end()) {
        id = it->second;
        break;
      }
    }
    if (id < 0) {  // some part has no piece: the whole word is unknown
      ids.resize(first);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(id);
    start = end;
  }
}

void BertTokenizer::append_plain(std::u32string_view text, std::vector<int64_t>& ids) const {
  std::u32string chars = clean_and_space_cjk(text, options_.tokenize_chinese_chars);
  if (options_.strip_accents.value_or(options_.lowercase)) chars = strip_accents(chars);
  if (options_.lowercase) chars = lowercase(chars);

  // Words end at white space; each punctuation character is a word of its own.
  std::string word;
  std::size_t word_chars = 0;
  const auto flush = [&] {
    if (word_chars > 0) append_word(word, word_chars, ids);
    word.clear();
    word_chars = 0;
  };
  for (char32_t c : chars) {
    if (is_whitespace(c)) {
      flush();
    } else if (is_punctuation(c)) {
      flush();
      append_utf8(c, word);
      word_chars = 1;
      flush();
    } else {
      append_utf8(c, word);
      ++word_chars;
    }
  }
  flush();
}

std::vector<int64_t> BertTokenizer::piece_ids(std::string_view text) const {
  const std::u32string chars = decode_utf8(text);
  const std::u32string_view all(chars);
  std::vector<int64_t> ids;
  std::size_t plain_start = 0;
  for (std::size_t pos = 0; pos < all.size();) {
    // Special tokens written in the text are matched exactly (case included) before any
    // normalization, leftmost and longest first.
    const auto special = std::find_if(specials_.begin(), specials_.end(),
                                      [&](const Special& s) { return all.substr(pos).starts_with(s.chars); });
    if (special == specials_.end()) {
      ++pos;
      continue;
    }
    append_plain(all.substr(plain_start, pos - plain_start), ids);
    ids.push_back(special->id);
    pos += special->chars.size();
    plain_start = pos;
  }
  append_plain(all.substr(plain_start), ids);
  return ids;
}

std::vector<std::string> BertTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int64_t id : piece_ids(text)) pieces.push_back(tokens_[static_cast<std::size_t>(id)]);
  return pieces;
}

std::vector<int64_t> BertTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids = piece_ids(text);
  ids.insert(ids.begin(), cls_id_);
  ids.push_back(sep_id_);
  return ids;
}

std::vector<int64_t> BertTokenizer::encode(std::string_view text, std::size_t max_length) const {
  if (max_length < 2)
    throw UsageError("tokenizer max_length must be at least 2 (room for [CLS] and [SEP]), got " +
                     std::to_string(max_length));
  std::vector<int64_t> ids = piece_ids(text);
  if (ids.size() > max_length - 2) ids.resize(max_length - 2);
  ids.insert(ids.begin(), cls_id_);
  ids.push_back(sep_id_);
  return ids;
}

EncodedBatch BertTokenizer::encode_batch(const std::vector<std::string>& texts, std::size_t max_length,
                                         Padding padding) const {
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(texts.size());
  for (const auto& text : texts) rows.push_back(encode(text, max_length));

  EncodedBatch batch;
  batch.rows = rows.size();
  batch.length = max_length;
  if (padding == Padding::Longest) {
    batch.length = 0;
    for (const auto& row : rows) batch.length = std::max(batch.length, row.size());
  }
  batch.input_ids.assign(batch.rows * batch.length, pad_id_);
  batch.attention_mask.assign(batch.rows * batch.length, 0);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::copy(rows[r].begin(), rows[r].end(), batch.input_ids.begin() + static_cast<std::ptrdiff_t>(r * batch.length));
    std::fill_n(batch.attention_mask.begin() + static_cast<std::ptrdiff_t>(r * batch.length), rows[r].size(), 1);
  }
  return batch;
}

int64_t BertTokenizer::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  return it == vocab_.end() ? unk_id_ : it->second;
}

const std::string& BertTokenizer::id_to_token(int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
    throw UsageError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                     std::to_string(tokens_.size() - 1) + ")");
  return tokens_[static_cast<std::size_t>(id)];
}

}  // namespace oft::models
