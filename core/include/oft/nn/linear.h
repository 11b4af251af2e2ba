#pragma once
// oft::Linear: a dense linear layer like torch::nn::Linear (weight (out, in), bias (out)) that can
// be created on any device, the meta device included. torch::nn::Linear always allocates and
// initializes its weight on the CPU first, which rules out building a 7B-shaped model for planning
// or scale tests; this one allocates where it is told (meta: nothing).
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "oft/export.h"

namespace oft {

struct LinearSpec {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;
  c10::Device device = c10::Device(c10::kCPU);
};

class OFT_CORE_API LinearImpl : public torch::nn::Cloneable<LinearImpl> {
 public:
  explicit LinearImpl(const LinearSpec& spec);
  // (Re)creates the parameters on spec.device; on real devices with torch::nn::Linear's init.
  void reset() override;
  at::Tensor forward(const at::Tensor& x);

  LinearSpec spec;
  at::Tensor weight;
  at::Tensor bias;
};
TORCH_MODULE(Linear);

}  // namespace oft
