#pragma once
// The OFT input rotation y = x . blockdiag(R) on the CPU in one pass over x each way (forward, dx, dR), as the
// CUDA kernels do: x read in its own dtype (fp32, fp16 or bf16), fp32 arithmetic, y and dx written in x's dtype.
// LibTorch's operators take a fp32 copy of x, a batched GEMM over strided blocks, a copy back to x's layout and a
// conversion to x's dtype in each direction.
#include <ATen/core/Tensor.h>

#include "oft/export.h"
#include "oft/sdk/products_in_16_lanes.h"

namespace oft {

// Whether cpu_rotate_rows takes these tensors: x on the CPU in fp32/fp16/bf16 with features r * b; blocks fp32
// (r or 1 shared, b, b) with b a multiple of 8; an x86 CPU with AVX2, FMA and F16C.
OFT_CORE_API bool cpu_rotation_fits(const at::Tensor& x, const at::Tensor& blocks);

// x (..., features) . blockdiag(blocks) in x's dtype, differentiable in x and blocks (cpu_rotation_fits must hold).
// The same values as math::rotate_rows on x in fp32, rounded once to x's dtype, summed in another order. Sixteen
// lanes where the CPU has AVX-512F and b is a multiple of 16, unless `lanes` pins eight (tests take both).
OFT_CORE_API at::Tensor cpu_rotate_rows(const at::Tensor& x, const at::Tensor& blocks,
                                        sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

}  // namespace oft
