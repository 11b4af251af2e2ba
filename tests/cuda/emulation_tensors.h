#pragma once
// LibTorch helpers for the tests that run kernels through the CUDA emulation (cuda_emulation.h, included first):
// the output buffer a kernel must fill, and the kernel's element type for a dtype.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <limits>

#include <ATen/ATen.h>

namespace oft::test::emulation {

// An output buffer the kernel must fill: NaN where it does not.
inline at::Tensor unwritten(at::IntArrayRef sizes, at::ScalarType dtype = at::kFloat) {
  return at::full(sizes, std::numeric_limits<float>::quiet_NaN(), at::TensorOptions().dtype(dtype));
}

// f(element) with a value of the kernels' element type for `dtype`: __half, __nv_bfloat16, else float.
template <class F>
void with_element_type(at::ScalarType dtype, F&& f) {
  if (dtype == at::kHalf) return f(__half{});
  if (dtype == at::kBFloat16) return f(__nv_bfloat16{});
  f(float{});
}

}  // namespace oft::test::emulation
