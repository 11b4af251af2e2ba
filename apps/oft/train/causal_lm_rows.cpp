#include "causal_lm_rows.h"

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "oft/hf/text_tokenizer.h"

namespace oft::app {
namespace {

enum class RowShape { InputIds, Text, PromptCompletion };

const char* describe(RowShape shape) {
  switch (shape) {
    case RowShape::InputIds: return "{\"input_ids\": [int, ...]}";
    case RowShape::Text: return "{\"text\": string}";
    case RowShape::PromptCompletion: return "{\"prompt\": string, \"completion\": string}";
  }
  return "";
}

RowShape shape_of(const nlohmann::json& row) {
  if (!row.is_object()) throw FormatError("expected a JSON object");
  const bool ids = row.contains("input_ids"), text = row.contains("text");
  const bool pair = row.contains("prompt") || row.contains("completion");
  if (ids + text + pair != 1)
    throw FormatError("expected exactly one of the shapes " + std::string(describe(RowShape::InputIds)) + ", " +
                      describe(RowShape::Text) + ", " + describe(RowShape::PromptCompletion));
  return ids ? RowShape::InputIds : text ? RowShape::Text : RowShape::PromptCompletion;
}

CausalLmRow make_row(const nlohmann::json& j, RowShape shape, const TokenizerSource& tokenizer) {
  CausalLmRow row;
  switch (shape) {
    case RowShape::InputIds:
      row.ids = j.at("input_ids").get<std::vector<int64_t>>();
      for (int64_t id : row.ids)
        if (id < 0) throw FormatError("negative token id " + std::to_string(id));
      break;
    case RowShape::Text: row.ids = tokenizer().encode(j.at("text").get<std::string>(), true); break;
    case RowShape::PromptCompletion: {
      const models::TextTokenizer& t = tokenizer();
      row.ids = t.encode(j.at("prompt").get<std::string>(), true);
      const size_t prompt = row.ids.size();
      const std::vector<int64_t> completion = t.encode(j.at("completion").get<std::string>(), false);
      row.ids.insert(row.ids.end(), completion.begin(), completion.end());
      if (t.eos_id()) row.ids.push_back(*t.eos_id());
      row.loss.assign(row.ids.size(), 1);
      std::fill_n(row.loss.begin(), prompt, uint8_t{0});  // the prompt is context, not a target
      return row;
    }
  }
  row.loss.assign(row.ids.size(), 1);
  return row;
}

// Targets the loss counts in a row on its own: its first token has nothing before it to predict it.
int64_t own_targets(const CausalLmRow& row) {
  int64_t n = 0;
  for (size_t i = 1; i < row.loss.size(); ++i) n += row.loss[i];
  return n;
}

std::string where(const std::filesystem::path& file, int64_t line) {
  return file.string() + ":" + std::to_string(line);
}

}  // namespace

std::vector<CausalLmRow> read_causal_lm_rows(const std::filesystem::path& file, const TokenizerSource& tokenizer) {
  std::ifstream in(file);
  if (!in) throw FormatError("cannot read " + file.string());
  std::vector<CausalLmRow> rows;
  std::optional<RowShape> file_shape;
  int64_t first_line = 0;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::optional<RowShape> shape;
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      shape = shape_of(j);
      if (file_shape && *shape != *file_shape) {
        throw FormatError(std::string("a ") + describe(*shape) + " row, but line " + std::to_string(first_line) +
                          " is " + describe(*file_shape) + ": one file holds one shape");
      }
      rows.push_back(make_row(j, *shape, tokenizer));
    } catch (const FormatError& e) {
      throw FormatError(where(file, n) + ": " + e.what());
    } catch (const std::exception& e) {  // JSON syntax or types, text that is not UTF-8
      throw FormatError(where(file, n) + ": expected " +
                        (shape        ? describe(*shape)
                         : file_shape ? describe(*file_shape)
                                      : "a JSON object") +
                        " (" + e.what() + ")");
    }
    if (!file_shape) file_shape = shape, first_line = n;
    rows.back().line = n;
  }
  if (rows.empty()) throw FormatError(file.string() + " holds no rows");
  return rows;
}

void check_vocabulary(const std::vector<CausalLmRow>& rows, const std::filesystem::path& file, int64_t vocab_size) {
  for (const CausalLmRow& row : rows)
    for (int64_t id : row.ids)
      if (id >= vocab_size)
        throw FormatError(where(file, row.line) + ": token id " + std::to_string(id) +
                          " is outside the model's vocabulary of " + std::to_string(vocab_size) +
                          " (config.json vocab_size); is the tokenizer the model's?");
}

std::vector<CausalLmRow> fit_causal_lm_rows(std::vector<CausalLmRow> rows, const std::filesystem::path& file,
                                            int64_t max_length, bool packing, std::optional<int64_t> separator) {
  const auto limit = static_cast<size_t>(max_length);
  if (!packing) {
    for (CausalLmRow& row : rows) {
      if (row.ids.size() > limit) row.ids.resize(limit), row.loss.resize(limit);
      if (row.ids.size() < 2)
        throw FormatError(where(file, row.line) + ": needs at least two tokens, has " + std::to_string(row.ids.size()));
      if (own_targets(row) == 0)
        throw FormatError(where(file, row.line) + ": no completion token within data.max_length " +
                          std::to_string(max_length));
    }
    return rows;
  }
  if (!separator) throw UsageError("data.packing needs the model folder's tokenizer to have an EOS token");
  CausalLmRow stream;
  std::vector<int64_t> starts;  // the line each stream position comes from
  for (const CausalLmRow& row : rows) {
    stream.ids.insert(stream.ids.end(), row.ids.begin(), row.ids.end());
    stream.loss.insert(stream.loss.end(), row.loss.begin(), row.loss.end());
    if (row.ids.empty() || row.ids.back() != *separator) stream.ids.push_back(*separator), stream.loss.push_back(1);
    starts.resize(stream.ids.size(), row.line);
  }
  std::vector<CausalLmRow> blocks;
  for (size_t begin = 0; begin < stream.ids.size(); begin += limit) {
    const size_t end = std::min(begin + limit, stream.ids.size());
    CausalLmRow block{{stream.ids.begin() + begin, stream.ids.begin() + end},
                      {stream.loss.begin() + begin, stream.loss.begin() + end},
                      starts[begin]};
    if (own_targets(block) > 0) blocks.push_back(std::move(block));  // a last sliver of one token has no target
  }
  if (blocks.empty()) throw FormatError(file.string() + ": no block with a target after packing");
  return blocks;
}

}  // namespace oft::app
