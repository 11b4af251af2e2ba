#pragma once
// OFT over a linear layer (PEFT's oft.Linear): y = base(x . R_a1 . R_a2 ...). The base may be a
// dense torch::nn::Linear, a Conv1D (fan_in_fan_out weight) or any sdk::LinearBase from a backend.
// Dense bases in eval compute x . (W . R^T)^T + b with the folded weight cached (OFTLayer's eval weight cache).
#include <memory>

#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "oft/adapter/oft_layer.h"
#include "oft/export.h"
#include "oft/nn/conv1d.h"

namespace oft {

class OFT_CORE_API OFTLinearImpl : public OFTLayer {
 public:
  explicit OFTLinearImpl(std::shared_ptr<sdk::LinearBase> base);
  explicit OFTLinearImpl(torch::nn::Linear base);
  explicit OFTLinearImpl(Conv1D base);

  at::Tensor forward(const at::Tensor& x);

  sdk::LinearBase& base() { return *base_; }
  std::shared_ptr<torch::nn::Module> base_module() const override { return base_->module(); }
  int64_t rotated_features() const override { return base_->in_features(); }
  sdk::MergePolicy merge_policy() const override { return base_->merge_policy(); }

 protected:
  at::Tensor weight_matrix() override { return base_->dense_weight(); }
  void set_weight_matrix(const at::Tensor& weight) override { base_->set_dense_weight(weight); }
  c10::Device base_device() const override { return base_->device(); }
  c10::ScalarType base_dtype() const override { return base_->compute_dtype(); }
  bool dense_weight_base() const override { return dense_; }

 private:
  std::shared_ptr<sdk::LinearBase> base_;
  bool dense_ = false;  // a built-in dense base (Linear, Conv1D): eligible for the eval weight cache
  at::Tensor bias_;     // its bias, if any (the module's parameter, not a copy)
};
TORCH_MODULE(OFTLinear);

}  // namespace oft
