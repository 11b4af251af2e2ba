#include "nn/dense_linear.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace oft {
namespace {

// Writes in place so the parameter object (and anything holding it, e.g. an optimizer) stays the same.
void assign_weight(at::Tensor& param, const at::Tensor& value) {
  torch::NoGradGuard no_grad;
  param.copy_(value);
}

}  // namespace

DenseLinear::DenseLinear(torch::nn::Linear linear)
    : module_(linear.ptr()), type_name_("torch::nn::Linear"), weight_(linear->weight), bias_(linear->bias) {}

DenseLinear::DenseLinear(Linear linear)
    : module_(linear.ptr()), type_name_("oft::Linear"), weight_(linear->weight), bias_(linear->bias) {}

at::Tensor DenseLinear::forward(const at::Tensor& x) { return at::linear(x, weight_, bias_); }

void DenseLinear::set_dense_weight(const at::Tensor& weight) { assign_weight(weight_, weight); }

void Conv1DLinear::set_dense_weight(const at::Tensor& weight) { assign_weight(conv_->weight, weight.t()); }

}  // namespace oft
