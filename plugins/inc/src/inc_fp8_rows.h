#pragma once
// Rows of FP8 codes dequantized: hp(fp32(code) * scale), as float. Two ways that give the same bits: a
// 256-entry table of the codes' values on any CPU, and on x86 CPUs with AVX2 and F16C eight codes at a time
// through fp16 (an E5M2 byte is the upper half of an fp16; E4M3 moves into fp16's wider exponent) with the
// scale and the rounding applied in registers.
#include <array>
#include <cstdint>
#include <limits>

#include <c10/core/ScalarType.h>

#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::inc {

struct Fp8Rows {
  c10::ScalarType fp8;                                   // kFloat8_e4m3fn or kFloat8_e5m2
  c10::ScalarType round_to;                              // the scale's dtype: kFloat, kHalf or kBFloat16
  sdk::RoundingPath path = sdk::RoundingPath::kFastest;  // kPortable: the table
};

// Rows [0, rows) of `cols` codes each, row r at codes + r * ld, into out (row r at out + r * cols):
// out[r][n] = round_to(value(code) * scales[n]). The next rows are prefetched (a tile reads a short run of each row).
void dequantize_fp8_rows(const uint8_t* codes, int64_t ld, int64_t rows, int64_t cols, const float* scales,
                         const Fp8Rows& how, float* out);

// One token straight from the codes (decoding), on x86 CPUs with AVX2, F16C and FMA: each weight dequantized as above
// in registers, multiplied with x and added into its output's sum, kGemvColumns outputs per pass over the rows
// (eight registers of eight sums; where the CPU has AVX-512F, up to 256 outputs per pass in sixteen lanes, the same
// bits), the passes in parallel. Nothing is written for W.
constexpr int64_t kGemvColumns = 64;
// Whether fp8_gemv runs for `how`: the fastest path on a CPU with AVX2, F16C and FMA.
bool fp8_gemv_applies(const Fp8Rows& how);
// The largest |scale| fp8_gemv takes: it folds E4M3's 2^8 into the scales (about 1.3e36; larger scales, and NaN,
// take the tiles).
constexpr float kFp8GemvMaxScale = std::numeric_limits<float>::max() / 256;
// y[n] = Σ_k x[k] · round_to(value(codes[k * ld + n]) * scales[n]) for n in [0, cols), cols a multiple of
// kGemvColumns, summed in k order (fused multiply-adds), k in [0, rows). fp8_gemv_applies(how) must hold and every
// |scales[n]| be at most kFp8GemvMaxScale.
void fp8_gemv(const uint8_t* codes, int64_t ld, int64_t rows, int64_t cols, const float* scales, const float* x,
              const Fp8Rows& how, float* y, sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

// Every FP8 byte's float value (LibTorch's conversion), the table both paths agree with.
const std::array<float, 256>& fp8_values(c10::ScalarType fp8);

}  // namespace oft::inc
