#include "bpe.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "tokenizer_utf8.h"

namespace oft::models::tok {
namespace {

constexpr std::size_t kCacheCapacity = 10000;  // entries, as `tokenizers`' default
constexpr std::size_t kMaxCachedWord = 256;    // bytes

[[noreturn]] void malformed(const std::string& what) { throw FormatError("BPE model: " + what); }

}  // namespace

Bpe::Bpe(const nlohmann::json& model) {
  if (!model.value("dropout", nlohmann::json()).is_null()) malformed("dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto value = model.value(key, nlohmann::json());
    if (!value.is_null() && !value.get<std::string>().empty())
      malformed(std::string(key) + " is not supported (used by no byte-level or Metaspace layout)");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) malformed("\"vocab\" must be an object");
  for (const auto& [token, id_json] : model["vocab"].items()) {
    const auto id = id_json.get<int64_t>();
    if (id < 0 || id > 0x7FFFFFFF) malformed("id of \"" + token + "\" out of range");
    if (static_cast<std::size_t>(id) >= tokens_.size()) tokens_.resize(static_cast<std::size_t>(id) + 1);
    tokens_[static_cast<std::size_t>(id)] = token;
    vocab_.emplace(token, id);
  }
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    if (auto it = vocab_.find(std::string_view(name)); it != vocab_.end()) byte_ids_[b] = it->second;
  }
  const auto& merges = model.value("merges", nlohmann::json::array());
  uint32_t rank = 0;
  for (const auto& merge : merges) {
    std::string a, b;
    if (merge.is_string()) {
      const auto& text = merge.get_ref<const std::string&>();
      const auto space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
        malformed("merge \"" + text + "\" is not two tokens separated by one space");
      a = text.substr(0, space);
      b = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2) {
      a = merge[0].get<std::string>();
      b = merge[1].get<std::string>();
    } else {
      malformed("a merge must be \"a b\" or [\"a\", \"b\"]");
    }
    const auto ia = vocab_.find(a), ib = vocab_.find(b), imerged = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || imerged == vocab_.end())
      malformed("merge \"" + a + " " + b + "\" names a token missing from the vocabulary");
    merges_.emplace(pair_key(ia->second, ib->second), Merge{rank++, imerged->second});
  }
  if (const auto unk = model.value("unk_token", nlohmann::json()); !unk.is_null()) {
    const auto it = vocab_.find(unk.get<std::string>());
    if (it == vocab_.end()) malformed("unk_token \"" + unk.get<std::string>() + "\" is not in the vocabulary");
    unk_id_ = it->second;
  }
  fuse_unk_ = model.value("fuse_unk", false);
  byte_fallback_ = model.value("byte_fallback", false);
  ignore_merges_ = model.value("ignore_merges", false);
}

std::optional<int64_t> Bpe::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::id_to_token(int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return nullptr;
  const auto& token = tokens_[static_cast<std::size_t>(id)];
  return token.empty() ? nullptr : &token;
}

void Bpe::tokenize(std::string_view word, std::vector<int64_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWord;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const std::size_t start = ids.size();
  merge_word(word, ids);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity)
      cache_.emplace(std::string(word),
                     std::vector<int64_t>(ids.begin() + static_cast<std::ptrdiff_t>(start), ids.end()));
  }
}

// The linked-list algorithm: symbols in a doubly linked list, candidate pairs in a min-heap by
// (rank, position); a popped pair is stale when either side has changed since it was pushed.
void Bpe::merge_word(std::string_view word, std::vector<int64_t>& ids) const {
  struct Symbol {
    int64_t id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  bool last_was_unk = false;
  for (std::size_t i = 0; i < word.size();) {
    const std::size_t len = std::min(utf8_length(static_cast<unsigned char>(word[i])), word.size() - i);
    const std::string_view ch = word.substr(i, len);
    i += len;
    if (auto it = vocab_.find(ch); it != vocab_.end()) {
      symbols.push_back({it->second, 0, 0, true});
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_ &&
        std::all_of(ch.begin(), ch.end(), [&](char c) { return byte_ids_[static_cast<unsigned char>(c)] >= 0; })) {
      for (char c : ch) symbols.push_back({byte_ids_[static_cast<unsigned char>(c)], 0, 0, true});
      last_was_unk = false;
      continue;
    }
    if (!unk_id_) continue;  // `tokenizers` drops characters it cannot represent
    if (!(fuse_unk_ && last_was_unk)) symbols.push_back({*unk_id_, 0, 0, true});
    last_was_unk = true;
  }
  const int n = static_cast<int>(symbols.size());
  for (int k = 0; k < n; ++k) {
    symbols[static_cast<std::size_t>(k)].prev = k - 1;
    symbols[static_cast<std::size_t>(k)].next = k + 1 < n ? k + 1 : -1;
  }
  struct Candidate {
    uint32_t rank;
    int pos;
    int64_t left, right, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto push = [&](int pos) {
    if (pos < 0) return;
    const int next = symbols[static_cast<std::size_t>(pos)].next;
    if (next < 0) return;
    const int64_t left = symbols[static_cast<std::size_t>(pos)].id, right = symbols[static_cast<std::size_t>(next)].id;
    if (auto it = merges_.find(pair_key(left, right)); it != merges_.end())
      queue.push({it->second.rank, pos, left, right, it->second.id});
  };
  for (int k = 0; k + 1 < n; ++k) push(k);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(top.pos)];
    if (!left.alive || left.id != top.left || left.next < 0) continue;
    Symbol& right = symbols[static_cast<std::size_t>(left.next)];
    if (right.id != top.right) continue;
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
  for (int k = n > 0 ? 0 : -1; k >= 0; k = symbols[static_cast<std::size_t>(k)].next)
    ids.push_back(symbols[static_cast<std::size_t>(k)].id);
}

}  // namespace oft::models::tok
