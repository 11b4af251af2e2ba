#pragma once
// The CUDA RotationKernels (oft/device/rotation_kernels.h) that liboft_cuda registers.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace oft::cuda {

at::Tensor cayley_neumann(const at::Tensor& vec, int64_t block_size, int64_t num_terms);
at::Tensor cayley_exact(const at::Tensor& vec, int64_t block_size);
at::Tensor rotate_rows(const at::Tensor& x, const at::Tensor& blocks);

}  // namespace oft::cuda
