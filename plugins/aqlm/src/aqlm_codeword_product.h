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
// more slowly with the tokens: the codeword product reads every codebook for every token pair, a tile once. Measured
// at 4096x4096 (bench_aqlm, 2 threads, session 20, an Intel Xeon): 1x16 (one 2^16-entry codebook, whose tiles read
// it from beyond L2) 8 tokens 3.4 ms by codewords vs 9.3 ms tiled, 32 tokens 12.0 vs 13.0 ms; 2x8 8 tokens 5.1 vs
// 5.8 ms, 16 tokens 9.6 vs 7.5 ms (the crossing near 10).
constexpr int64_t kCodewordMaxTokensOneCodebook = 32;
constexpr int64_t kCodewordMaxTokensSeveralCodebooks = 10;

// The most tokens the codeword product takes for a layer of `num_codebooks` codebooks.
int64_t codeword_max_tokens(int64_t num_codebooks);

// Whether the codeword product applies to `tokens` tokens (at least 1).
bool codeword_product_applies(int64_t tokens, int64_t num_codebooks);

// CPU tensors: x float (T, K) contiguous; stored_codes [N/og, K/ig, C] as aqlm stores them: int8 for up to 8 bits,
// int16 for up to 16 (either read as stored, mod 2^nbits); codebooks [C, 2^nbits, og, ig] (fp16, bf16 or fp32);
// float_scales [N/og]. Returns y float (T, N) = x · Wᵀ where W[o·og + j, g·ig + i] = scales[o] · Σ_c codebooks[c,
// codes[o, g, c], j, i]. The summation order is fixed (it depends neither on the number of threads nor on the path).
at::Tensor codeword_product(const at::Tensor& x, const at::Tensor& stored_codes, int64_t nbits_per_codebook,
                            const at::Tensor& codebooks, const at::Tensor& float_scales, sdk::RoundingPath path);
inline at::Tensor codeword_product(const at::Tensor& x, const at::Tensor& stored_codes, int64_t nbits_per_codebook,
                                   const at::Tensor& codebooks, const at::Tensor& float_scales) {
  return codeword_product(x, stored_codes, nbits_per_codebook, codebooks, float_scales, sdk::RoundingPath::kFastest);
}

}  // namespace oft::aqlm
