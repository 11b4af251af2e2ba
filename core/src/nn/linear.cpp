#include "oft/nn/linear.h"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace oft {

LinearImpl::LinearImpl(const LinearSpec& s) : spec(s) { reset(); }

void LinearImpl::reset() {
  const auto options = at::TensorOptions().device(spec.device);
  weight = register_parameter("weight", at::empty({spec.out_features, spec.in_features}, options));
  if (spec.bias) bias = register_parameter("bias", at::empty({spec.out_features}, options));
  if (spec.device.is_meta()) return;
  // torch::nn::Linear's init: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in)) for both.
  torch::NoGradGuard no_grad;
  const double bound = spec.in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(spec.in_features)) : 0.0;
  weight.uniform_(-bound, bound);
  if (spec.bias) bias.uniform_(-bound, bound);
}

at::Tensor LinearImpl::forward(const at::Tensor& x) { return at::linear(x, weight, bias); }

}  // namespace oft
