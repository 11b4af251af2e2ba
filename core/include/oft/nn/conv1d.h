#pragma once
// transformers' Conv1D (GPT-2): a linear layer whose weight is stored transposed, (in, out).
// PEFT calls this layout fan_in_fan_out.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "oft/export.h"

namespace oft {

class OFT_CORE_API Conv1DImpl : public torch::nn::Module {
 public:
  Conv1DImpl(int64_t in_features, int64_t out_features);
  // y = x W + b for x (..., in_features).
  at::Tensor forward(const at::Tensor& x);

  int64_t in_features, out_features;
  at::Tensor weight;  // (in_features, out_features)
  at::Tensor bias;    // (out_features)
};
TORCH_MODULE(Conv1D);

}  // namespace oft
