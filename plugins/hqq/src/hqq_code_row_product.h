#pragma once
// y = x · Wᵀ for a few tokens straight from byte-packed code rows (groups along the input, axis 1), on x86 CPUs with
// AVX2 and F16C: eight codes at a time are shifted out of their bytes, converted, and taken through hqq's two steps
// with each rounding in registers exactly as dequantize_code_rows does ((code - zero) rounded, times the scale,
// rounded), then multiplied with x and added into the output's sum. A packed byte holds one code of each plane, and
// the planes' code rows of the same packed row belong to outputs N/planes apart, so one pass over an output's
// packed rows sums all its planes' outputs, x read once for them. Nothing is written for W: the tiled forward
// writes each tile (4 bytes per weight) and its GEMV reads it back, which at a few tokens costs more than the
// decoding. The outputs differ from the tiled forward's only in summation order.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "hqq_dequant_cpu.h"
#include "oft/sdk/products_in_16_lanes.h"

namespace oft::hqq {

// Up to this many tokens the code row product is used; past it the tiled dequantization wins, whose cost grows
// more slowly with the tokens. Measured at 4096x4096, 4-bit group 64, fp16 (bench_hqq): 9 tokens 4.8 ms by code
// rows vs 7.9-9.1 ms tiled at 2 threads, 9.5-9.7 vs 13.8-14.7 ms at 1; 13 tokens 7.1 vs 10.7-12.7 ms (LibTorch's
// GEMM runs 13 to 15 columns slowly); 16 tokens 7.2-8.5 vs 6.6-8.7 ms and 14.0-15.5 vs 13.4-13.5 ms; 17 tiled
// 10.0 / 17.9 ms. Since the tiles take L2-sized GEMMs of row-major operands (session 20, an Intel Xeon, 2 threads,
// code rows vs tiles, x dense): 4 tokens 0.95x vs 1.41-1.45x, 8 tokens 1.16-1.17x vs 1.15-1.21x, 13 tokens
// 1.24-1.26x vs 1.32-1.34x, 16 tokens 1.83-1.85x vs 1.31x.
constexpr int64_t kCodeRowProductMaxTokens = 12;
// The same for the sixteen-lane product (AVX-512F), by code width, measured alike (session 22, the same Xeon, x dense
// at 2 / 1 threads, code rows vs tiles). 4 bits: 12 tokens 0.60-0.62x vs 0.96-0.98x / 0.57x vs 0.92-0.99x; 16 tokens
// 0.84-0.86x vs 1.22-1.24x / 0.83-0.84x vs 0.94x; 20 tokens 1.00-1.02x vs 1.45-1.51x / 0.90-0.94x vs 1.13-1.14x; 24
// tokens 1.09-1.12x vs 1.38x / 1.04-1.07x vs 1.07-1.10x. 2 bits (two tokens per pass), 2 threads: 16 tokens
// 1.02-1.05x vs 1.14-1.16x, 20 tokens 1.20-1.24x vs 1.27-1.30x, 24 tokens 1.36-1.38x vs 1.25-1.29x. 1 bit (one token
// per pass): 8 tokens 0.98-0.99x vs 0.99-1.02x, 12 tokens 1.06-1.08x vs 0.85-0.90x.
constexpr int64_t kCodeRowProductMaxTokens16Lanes4Bit = 24;
constexpr int64_t kCodeRowProductMaxTokens16Lanes2Bit = 20;
constexpr int64_t kCodeRowProductMaxTokens16Lanes1Bit = 8;

// What the code row product needs of a layer. packed: the packing's bytes (packed rows, cols), contiguous; zero
// and scale: one value per code row, contiguous, in their stored dtypes.
struct CodeRowWeights {
  const at::Tensor& packed;
  const std::string& packing;
  const at::Tensor& zero;
  const at::Tensor& scale;
  StepDtypes dtypes;
  int64_t out_features, in_features;
};

// Whether code_row_product applies to `tokens` tokens of w: a byte packing whose two steps round to one dtype (fp32,
// fp16 or bf16), code rows of a multiple of 8 values that divide the inputs, output rows that divide into the
// planes, at most code_row_product_max_tokens(w, lanes) tokens, and a CPU with AVX2 and F16C.
bool code_row_product_applies(int64_t tokens, const CodeRowWeights& w,
                              sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

// Whether code_row_product(..., lanes) takes sixteen lanes for w: where `lanes` and the CPU allow it, for codes of up
// to 4 bits in code rows of a multiple of 16 values.
bool code_row_product_takes_16_lanes(const CodeRowWeights& w, sdk::ProductLanes lanes);

// Up to how many tokens code_row_product(..., lanes) applies to w: kCodeRowProductMaxTokens, or where it takes
// sixteen lanes the limit for w's code width.
int64_t code_row_product_max_tokens(const CodeRowWeights& w, sdk::ProductLanes lanes);

// x float (T, in) contiguous. Returns y float (T, out) = x · Wᵀ with W's values those of dequantize_code_rows,
// summed in a fixed order for each output (the same bits whatever the number of threads; the sixteen-lane path sums
// in another order than the eight-lane one, by fused multiply-adds). code_row_product_applies must hold.
at::Tensor code_row_product(const at::Tensor& x, const CodeRowWeights& w,
                            sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

}  // namespace oft::hqq
