#include "oft/nn/conv1d.h"

#include <ATen/ATen.h>

namespace oft {

Conv1DImpl::Conv1DImpl(int64_t in, int64_t out) : in_features(in), out_features(out) {
  // transformers initializes Conv1D weights with Normal(0, 0.02) and zero bias.
  weight = register_parameter("weight", at::empty({in, out}).normal_(0.0, 0.02));
  bias = register_parameter("bias", at::zeros({out}));
}

at::Tensor Conv1DImpl::forward(const at::Tensor& x) {
  auto sizes = x.sizes().vec();
  sizes.back() = out_features;
  return at::addmm(bias, x.reshape({-1, in_features}), weight).view(sizes);
}

}  // namespace oft
