#pragma once
// `oft train` causal_lm data as tensors: the rows of causal_lm_rows.h right-padded into one batch.
#include <cstdint>
#include <filesystem>

#include <ATen/core/Tensor.h>

namespace oft::app {

struct CausalLmData {
  at::Tensor input_ids;       // (N, T), right-padded with 0
  at::Tensor attention_mask;  // (N, T), 0 on padding
  at::Tensor labels;          // (N, T), the ids, -100 where the loss does not count (prompt, padding)
};

struct CausalLmDataOptions {
  std::filesystem::path model_dir;  // its tokenizer reads {"text"} and {"prompt", "completion"} rows
  int64_t max_length = 128;
  bool packing = false;
};

CausalLmData load_causal_lm_data(const std::filesystem::path& file, const CausalLmDataOptions& options);

}  // namespace oft::app
