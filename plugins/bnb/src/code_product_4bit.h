#pragma once
// y = x · Wᵀ for a few tokens straight from NF4/FP4 codes, on x86 CPUs with AVX2 and F16C. Each block's 16 possible
// weights (its code table times its absmax, rounded to the compute dtype: dequantize_4bit's values) are computed
// once and held in two registers; eight codes at a time then pick theirs by a lane permutation
// (sdk::code_values_in_8_lanes), multiply x and add into the output's sums; where the CPU has AVX-512F, a block's
// table is one register and one permutation serves sixteen codes (sdk::code_values_in_16_lanes). Nothing is written for
// W: the tiled forward writes each tile of W (4 bytes per weight in fp32) and its GEMV reads it back, which at a few
// tokens costs more than the lookups. The products are summed in fp32 (as LibTorch's CPU GEMMs do in every compute
// dtype), in a fixed order: the outputs differ from the tiled forward's only in summation order and, in fp16/bf16, in
// where they round.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/products_in_16_lanes.h"
#include "quant_type.h"

namespace oft::bnb {

// Up to this many tokens the eight-lane code product is used; past it the tiled dequantization wins, whose cost
// grows more slowly with the tokens. Measured at 4096x4096 NF4, fp32 compute (bench_bnb, 2 / 1 threads): 8 tokens 3.9
// vs 6.3 ms tiled / 6.7 vs 14.3 ms; 12 tokens 6.8 vs 9.4 / 9.6 vs 17.0; 16 tokens 6.5-7.2 vs 7.9 / 12.4-13.8 vs 12.3;
// 17 tokens tiled 9.3 / 17.2 (LibTorch's GEMM runs 13 to 15 columns slowly). Since the tiles take L2-sized GEMMs
// of row-major operands (session 20, an Intel Xeon, 2 threads, code product vs tiles, x dense): 4 tokens 0.73-0.78x
// vs 1.30-1.32x, 8 tokens 0.96-1.01x vs 1.05-1.08x, 13 tokens 1.01-1.07x vs 0.67x, 16 tokens 1.72x vs 0.96x.
constexpr int64_t kCodeProduct4bitMaxTokens = 8;
// The same for the sixteen-lane code product (AVX-512F), measured alike (session 22, the same Xeon, ms at 2 / 1
// threads, code product vs tiles): 16 tokens 3.9-4.2 vs 4.3-4.6 / 7.7-7.8 vs 7.8-8.0; 20 tokens 4.9-5.0 vs 5.2-5.4
// / 9.7-9.8 vs 10.1-10.3; 24 tokens 5.9 vs 5.2-5.4 / 11.6 vs 10.0-10.2.
constexpr int64_t kCodeProduct4bitMaxTokens16Lanes = 20;

// Whether code_product_4bit(..., lanes) applies: 1 to kCodeProduct4bitMaxTokens tokens
// (kCodeProduct4bitMaxTokens16Lanes where it takes sixteen lanes), blocks that lie within rows (in_features a multiple
// of the blocksize, a multiple of 16), a compute dtype of fp32, fp16 or bf16, and a CPU with AVX2 and F16C.
bool code_product_4bit_applies(int64_t tokens, int64_t in_features, int64_t blocksize, c10::ScalarType compute_dtype,
                               sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

// Whether code_product_4bit(..., lanes) takes sixteen lanes for blocks of `blocksize`: where `lanes` and the CPU
// allow it and blocks hold a multiple of 32 codes.
bool code_product_4bit_takes_16_lanes(int64_t blocksize, sdk::ProductLanes lanes);

// x float (T, in) contiguous, its values those of the compute dtype; packed uint8 (out·in/2, 1) contiguous, two
// codes per byte (the first in the high nibble); absmax float (out·in/blocksize) contiguous, nested codes decoded.
// Returns y float (T, out) = x · Wᵀ with W = dequantize_4bit(packed, absmax, type, blocksize, out, in,
// compute_dtype), summed in fp32 in a fixed order (the same bits whatever the number of threads; the sixteen-lane
// path sums in another order than the eight-lane one, by fused multiply-adds); code_product_4bit_applies must hold.
at::Tensor code_product_4bit(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& absmax, QuantType type,
                             int64_t blocksize, int64_t out_features, c10::ScalarType compute_dtype,
                             sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

}  // namespace oft::bnb
