#pragma once
// The built-in LinearBase implementations: torch::nn::Linear (weight (out, in)) and Conv1D
// (fan_in_fan_out, weight (in, out)). Both merge exactly.
#include <memory>

#include <torch/nn/modules/linear.h>

#include "oft/modules/conv1d.h"
#include "oft/sdk/base_layer.h"

namespace oft {

class DenseLinear final : public sdk::LinearBase {
 public:
  explicit DenseLinear(torch::nn::Linear linear) : linear_(std::move(linear)) {}

  std::shared_ptr<torch::nn::Module> module() override { return linear_.ptr(); }
  std::string type_name() const override { return "torch::nn::Linear"; }
  int64_t in_features() const override { return linear_->options.in_features(); }
  int64_t out_features() const override { return linear_->options.out_features(); }
  c10::ScalarType compute_dtype() const override { return linear_->weight.scalar_type(); }
  c10::Device device() const override { return linear_->weight.device(); }
  at::Tensor forward(const at::Tensor& x) override { return linear_->forward(x); }
  sdk::MergePolicy merge_policy() const override { return {}; }
  at::Tensor dense_weight() override { return linear_->weight; }
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  torch::nn::Linear linear_;
};

class Conv1DLinear final : public sdk::LinearBase {
 public:
  explicit Conv1DLinear(Conv1D conv) : conv_(std::move(conv)) {}

  std::shared_ptr<torch::nn::Module> module() override { return conv_.ptr(); }
  std::string type_name() const override { return "Conv1D"; }
  int64_t in_features() const override { return conv_->in_features; }
  int64_t out_features() const override { return conv_->out_features; }
  c10::ScalarType compute_dtype() const override { return conv_->weight.scalar_type(); }
  c10::Device device() const override { return conv_->weight.device(); }
  at::Tensor forward(const at::Tensor& x) override { return conv_->forward(x); }
  sdk::MergePolicy merge_policy() const override { return {}; }
  at::Tensor dense_weight() override { return conv_->weight.t(); }
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  Conv1D conv_;
};

}  // namespace oft
