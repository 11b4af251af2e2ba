#pragma once
// y = x · Wᵀ for a few tokens straight from AQLM's codes, W never formed: each output's codewords are read where
// they lie in the codebooks, by its codes, and multiplied with x's input groups at once, four outputs at a time
// (their reads are independent, and x's values are read once for the four). A 1x16 layer in groups of 8 reads 2
// code bytes per 8 weights plus the codewords, which mostly come from cache (fp16 codebooks of 2^16 x 8 entries:
// 1 MiB; 2x8's: 8 KiB), where dequantizing a tile writes and reads back 4 bytes per weight. On x86 CPUs with AVX2
// and F16C, input groups of 8 take eight-lane instructions that read fp16/bf16 codebooks as stored (the same
// bits as the code for every CPU, which reads an fp32 copy).
//
// aqlm's own kernels (numba on CPU, CUDA) build a table of x's products with every codeword instead. Such a table
// (for codebooks of up to 2^8 entries and up to 8 tokens) measured slower than reading the codewords at every
// count (2x8, 4096x4096, 2 cores: 1 token 2.6 vs 2.0 ms, 4 and 8 tokens even), and for 2^16 entries it would
// outgrow W.
//
// As in aqlm's kernels, the codeword sum is not rounded to the codebooks' dtype before it is scaled: with fp32
// codebooks the result differs from dequantize_gemm's only in summation order; with fp16/bf16 codebooks each
// weight differs by at most the rounding of the sum and of the scale's product (2 ulp of the dtype), which
// averages out in the output's sums.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::aqlm {

// Up to this many tokens the codeword product is used; past it the tiled dequantization wins, whose cost grows
// more slowly with the tokens. Measured at 4096x4096 (bench_aqlm, 2 cores): 1x16 32 tokens 12 ms by codewords
// vs 20 ms tiled (33 tokens), 64 tokens 33 vs 27-30 ms; 2x8 16 tokens 8 ms vs 23 ms tiled (17 tokens), 64
// tokens 48 vs 31 ms (the crossing near 38 tokens at 2 threads and 40 at 1).
constexpr int64_t kCodewordMaxTokens = 32;

// Whether the codeword product applies to `tokens` tokens (at least 1).
bool codeword_product_applies(int64_t tokens);

// x float (T, K) contiguous; stored_codes [N/og, K/ig, C] as aqlm stores them: int8 for up to 8 bits, int16 for up
// to 16 (either read as stored, mod 2^nbits);
// codebooks [C, 2^nbits, og, ig] (fp16, bf16 or fp32); float_scales [N/og]. Returns y float (T, N) = x · Wᵀ where
// W[o·og + j, g·ig + i] = scales[o] · Σ_c codebooks[c, codes[o, g, c], j, i]. The summation order is fixed (it
// depends neither on the number of threads nor on the path).
at::Tensor codeword_product(const at::Tensor& x, const at::Tensor& stored_codes, int64_t nbits_per_codebook,
                            const at::Tensor& codebooks, const at::Tensor& float_scales, sdk::RoundingPath path);
inline at::Tensor codeword_product(const at::Tensor& x, const at::Tensor& stored_codes, int64_t nbits_per_codebook,
                                   const at::Tensor& codebooks, const at::Tensor& float_scales) {
  return codeword_product(x, stored_codes, nbits_per_codebook, codebooks, float_scales, sdk::RoundingPath::kFastest);
}

}  // namespace oft::aqlm
