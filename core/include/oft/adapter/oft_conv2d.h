#pragma once
// OFT over Conv2d. PEFT rotates unfolded input patches and folds them back, which scrambles values
// for kernels > 1 (see README, Differences from PEFT). Rotating every flattened filter instead,
// W_flat . R^T, is the same map on each patch and exactly what merging computes, so the unmerged
// and merged layers agree for any kernel shape, stride, padding, dilation and groups.
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "oft/adapter/oft_layer.h"
#include "oft/export.h"

namespace oft {

class OFT_CORE_API OFTConv2dImpl : public OFTLayer {
 public:
  explicit OFTConv2dImpl(torch::nn::Conv2d base);

  at::Tensor forward(const at::Tensor& x);

  torch::nn::Conv2d& base() { return base_; }
  // (in_channels / groups) * kh * kw: one flattened filter.
  std::shared_ptr<torch::nn::Module> base_module() const override { return base_.ptr(); }
  int64_t rotated_features() const override;

 protected:
  at::Tensor weight_matrix() override;
  void set_weight_matrix(const at::Tensor& weight) override;
  at::Tensor weight_source() override { return base_->weight; }
  c10::Device base_device() const override { return base_->weight.device(); }
  c10::ScalarType base_dtype() const override { return base_->weight.scalar_type(); }

 private:
  // The filters with the pending adapters' rotations folded in (differentiable).
  at::Tensor rotated_filters();
  at::Tensor convolve(const at::Tensor& x, const at::Tensor& weight) const;

  torch::nn::Conv2d base_;
};
TORCH_MODULE(OFTConv2d);

}  // namespace oft
