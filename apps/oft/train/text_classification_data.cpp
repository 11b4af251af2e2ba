#include "text_classification_data.h"

#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "oft/hf/tokenizer.h"

namespace oft::app {
namespace {

// A label given by name, or by its index into the label names.
int64_t label_index(const nlohmann::json& label, const std::vector<std::string>& names) {
  if (label.is_number_integer()) {
    const auto index = label.get<int64_t>();
    if (index < 0 || index >= static_cast<int64_t>(names.size()))
      throw FormatError("label " + std::to_string(index) + " is out of range for " + std::to_string(names.size()) +
                        " labels");
    return index;
  }
  const auto name = label.get<std::string>();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) throw FormatError("label '" + name + "' is not one of the configured labels");
  return it - names.begin();
}

}  // namespace

TextClassificationData TextClassificationData::select(const at::Tensor& indices) const {
  const at::Tensor mask = attention_mask.index_select(0, indices);
  const int64_t longest = std::max<int64_t>(1, mask.sum(1).max().item<int64_t>());
  return {input_ids.index_select(0, indices).slice(1, 0, longest), mask.slice(1, 0, longest),
          labels.index_select(0, indices)};
}

TextClassificationData load_text_classification(const std::filesystem::path& jsonl,
                                                const std::vector<std::string>& label_names,
                                                const std::filesystem::path& model_dir, int64_t max_length) {
  std::ifstream in(jsonl);
  if (!in) throw FormatError("cannot read " + jsonl.string());
  std::vector<std::string> texts;
  std::vector<int64_t> labels;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = jsonl.string() + ":" + std::to_string(n);
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
      texts.push_back(row.at("text").get<std::string>());
      labels.push_back(label_index(row.at("label"), label_names));
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(where + ": expected {\"text\": string, \"label\": name or index} (" + e.what() + ")");
    } catch (const FormatError& e) {
      throw FormatError(where + ": " + e.what());
    }
  }
  if (texts.empty()) throw FormatError(jsonl.string() + " holds no examples");

  const auto tokenizer = models::BertTokenizer::from_pretrained(model_dir);
  const models::EncodedBatch encoded = tokenizer.encode_batch(texts, static_cast<size_t>(max_length));
  const auto n = static_cast<int64_t>(encoded.rows), width = static_cast<int64_t>(encoded.length);
  TextClassificationData data{at::tensor(encoded.input_ids, at::kLong).reshape({n, width}),
                              at::tensor(encoded.attention_mask, at::kLong).reshape({n, width}),
                              at::tensor(labels, at::kLong)};
  return data;
}

}  // namespace oft::app
