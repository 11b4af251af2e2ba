#pragma once
// y = x · Wᵀ for a few tokens straight from AQLM's codes, without forming W. Each input group's dot products
// with every codeword are computed once per forward (a lookup table: x_g · codebooks[c, q] for all c and q, one
// small GEMM), and each output then adds up the table entries its codes name and multiplies by its scale. For
// 2x8 codebooks in groups of 8 inputs the table costs 1/8 of a dense GEMV per token and the sums read 2 code
// bytes per 8 weights, where dequantizing reads the same codes but writes and reads back 4 bytes per weight.
//
// This is how aqlm's own kernels compute (numba on CPU, its CUDA kernels): the codeword sum is not rounded to
// the codebooks' dtype before it is scaled, as _dequantize_weight does. With fp32 codebooks the result differs
// from dequantize_gemm's only in summation order; with fp16/bf16 codebooks each weight differs by at most that
// rounding and the scale's (2 ulp of the dtype), which averages out in the output's sums.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace oft::aqlm {

// Up to this many tokens the lookup product is used (decoding, small batches). Its table grows by 1 MiB per token
// at 4096 inputs (2x8) while dequantizing costs the same for any count: measured at 4096x4096, 2x8, 2 cores
// (bench_aqlm), 8 tokens took 10 ms by lookup and 9 tokens 35-40 ms tiled; at 16 the two were even.
constexpr int64_t kLookupMaxTokens = 8;

// Whether the lookup product applies: codebooks of at most 2^8 entries (the table holds 2^B entries per
// codebook and input group, so 2^16-entry codebooks would make it larger than W) and 1..kLookupMaxTokens tokens.
bool lookup_product_applies(int64_t tokens, int64_t nbits_per_codebook);

// x float (T, K) contiguous; stored_codes int8 [N/og, K/ig, C] as aqlm stores them (read mod 2^nbits);
// float_codebooks [C, 2^nbits, og, ig]; float_scales [N/og]. Returns y float (T, N) = x · Wᵀ where
// W[o·og + j, g·ig + i] = scales[o] · Σ_c codebooks[c, codes[o, g, c], j, i]. The summation order is fixed
// (it does not depend on the number of threads).
at::Tensor lookup_product(const at::Tensor& x, const at::Tensor& stored_codes, int64_t nbits_per_codebook,
                          const at::Tensor& float_codebooks, const at::Tensor& float_scales);

}  // namespace oft::aqlm
