#pragma once
// The built-in LinearBase implementations: torch::nn::Linear and oft::Linear (weight (out, in)), and
// Conv1D (fan_in_fan_out, weight (in, out)). All merge exactly.
#include <memory>

#include <torch/nn/modules/linear.h>

#include "oft/export.h"
#include "oft/nn/conv1d.h"
#include "oft/nn/linear.h"
#include "oft/sdk/base_layer.h"

namespace oft {

// A weight (out, in) + optional bias computed as x W^T + b: torch::nn::Linear and oft::Linear.
class OFT_CORE_API DenseLinear final : public sdk::LinearBase {
 public:
  explicit DenseLinear(torch::nn::Linear linear);
  explicit DenseLinear(Linear linear);

  std::shared_ptr<torch::nn::Module> module() override { return module_; }
  std::string type_name() const override { return type_name_; }
  int64_t in_features() const override { return weight_.size(1); }
  int64_t out_features() const override { return weight_.size(0); }
  c10::ScalarType compute_dtype() const override { return weight_.scalar_type(); }
  c10::Device device() const override { return weight_.device(); }
  at::Tensor forward(const at::Tensor& x) override;
  sdk::MergePolicy merge_policy() const override { return {}; }
  at::Tensor dense_weight() override { return weight_; }
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  std::shared_ptr<torch::nn::Module> module_;
  std::string type_name_;
  at::Tensor weight_;  // the module's parameters (same tensors, not copies)
  at::Tensor bias_;
};

class OFT_CORE_API Conv1DLinear final : public sdk::LinearBase {
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
