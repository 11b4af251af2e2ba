#pragma once
// Labeled sentences for sequence classification: JSON lines {"text": "...", "label": <name or index>},
// tokenized with the model folder's WordPiece vocabulary and padded to the longest (<= max_length).
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace oft::app {

struct TextClassificationData {
  at::Tensor input_ids;       // (N, T) int64
  at::Tensor attention_mask;  // (N, T) int64, 1 on tokens
  at::Tensor labels;          // (N) int64, index into the label names
  int64_t size() const { return labels.size(0); }
  // Rows `indices`, trimmed to their longest sequence.
  TextClassificationData select(const at::Tensor& indices) const;
};

// FormatError naming the file and line for malformed lines and labels not in `label_names`.
TextClassificationData load_text_classification(const std::filesystem::path& jsonl,
                                                const std::vector<std::string>& label_names,
                                                const std::filesystem::path& model_dir, int64_t max_length);

}  // namespace oft::app
