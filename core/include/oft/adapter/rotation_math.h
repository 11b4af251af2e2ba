#pragma once
// The OFT rotation math on batches of blocks, exactly as PEFT defines what a saved adapter means:
// skew-symmetric blocks from the strict upper triangle (row-major), the exact Cayley transform, the
// Cayley-Neumann series with PEFT's coefficients, the COFT projection and multiplicative dropout.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "oft/export.h"

namespace oft::math {

// (r, b(b-1)/2) upper-triangle vectors -> (r, b, b) skew-symmetric matrices Q (Q[i,j] = v, Q[j,i] = -v).
OFT_CORE_API at::Tensor skew_symmetric(const at::Tensor& vec, int64_t block_size);
// Inverse of skew_symmetric: reads the strict upper triangle back, row-major.
OFT_CORE_API at::Tensor skew_to_vector(const at::Tensor& skew);

// Exact Cayley, PEFT's form: R = (I - Q)(I + Q)^-1, solved in at least fp32, returned in Q's dtype.
OFT_CORE_API at::Tensor cayley_exact(const at::Tensor& skew);
// PEFT's (>= 0.18) Neumann series: I + 2Q + 2Q^2 + ... + 2Q^(N-2) + Q^(N-1) for N >= 3; I + 2Q for
// N = 2. N < 2 is refused (PEFT silently returns I). Computed in Q's dtype.
OFT_CORE_API at::Tensor cayley_neumann(const at::Tensor& skew, int64_t num_terms);

// COFT: projects each block's Q onto the Frobenius ball of radius eps / sqrt(rows) around 0 and
// returns the projected upper-triangle vectors (same shape as vec).
OFT_CORE_API at::Tensor coft_project(const at::Tensor& vec, int64_t block_size, double eps);

// PEFT's MultiplicativeDropoutLayer: replaces floor(p*D) of the D blocks by the identity, chosen by
// one torch.randperm(D) draw (the same RNG call as PEFT, so seeds reproduce). D == 1 is left alone.
OFT_CORE_API at::Tensor multiplicative_dropout(const at::Tensor& blocks, double p);

// Row-vector rotation by a block-diagonal matrix: x (..., r*b) -> x . blockdiag(blocks), blocks (r, b, b).
OFT_CORE_API at::Tensor rotate_rows(const at::Tensor& x, const at::Tensor& blocks);
// The gradient of rotate_rows(x, blocks) with respect to blocks (r, b, b) for its output gradient dy, in fp32 from
// x and dy of any float dtype: per block the sum over rows of x_k^T dy_k, all into one when r == 1 (a shared
// block). Batched GEMMs: run to run the same bits, which the CUDA kernels' atomic sums do not promise.
OFT_CORE_API at::Tensor rotate_rows_blocks_gradient(const at::Tensor& x, const at::Tensor& dy, int64_t r, int64_t b);
// Dense block-diagonal (r*b, r*b) matrix of the blocks.
OFT_CORE_API at::Tensor block_diagonal(const at::Tensor& blocks);

}  // namespace oft::math
