#pragma once
// PEFT's Cayley-Neumann rotation blocks on the CPU as one autograd node: skew vectors -> I + 2Q + 2Q^2 + ... + Q^(N-1)
// with the batched products computed in place and a hand-derived backward. LibTorch's operators for the same series
// (rotation_math) record about twenty autograd nodes per adapter, each a few microseconds of dispatch, which was most
// of an OFT layer's overhead at a few hundred tokens.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "oft/export.h"

namespace oft {

// Whether cpu_cayley_neumann takes this parameter: (blocks, b(b-1)/2) fp32 on the CPU, b >= 2, num_terms >= 2.
OFT_CORE_API bool cpu_cayley_neumann_fits(const at::Tensor& vec, int64_t block_size, int64_t num_terms);

// (blocks, b, b) rotations equal to math::cayley_neumann(math::skew_symmetric(vec, b), num_terms) up to the order of
// fp32 sums, differentiable in vec (to any order: a backward that builds a graph runs LibTorch's operators).
// cpu_cayley_neumann_fits must hold.
OFT_CORE_API at::Tensor cpu_cayley_neumann(const at::Tensor& vec, int64_t block_size, int64_t num_terms);

}  // namespace oft
