#pragma once
// The CUDA ModelKernels (oft/device/model_kernels.h) that liboft_cuda registers.
#include <tuple>

#include <ATen/core/Tensor.h>

namespace oft::cuda {

bool silu_mul_takes(const at::Tensor& gate, const at::Tensor& up);
at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up);
std::tuple<at::Tensor, at::Tensor> silu_mul_backward(const at::Tensor& dy, const at::Tensor& gate, const at::Tensor& up,
                                                     bool want_gate, bool want_up);

bool rotary_takes(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor rotary_backward(const at::Tensor& dy, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace oft::cuda
