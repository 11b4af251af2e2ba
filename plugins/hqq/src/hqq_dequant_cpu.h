#pragma once
// HQQ's dequantization (codes - zero) * scale for weights with one zero point and scale per code row (groups
// along the input, axis 1: hqq's usual setting), in one pass over the packed codes: each step rounded in
// registers to the dtype hqq stores it in, so the values are those of hqq's tensor arithmetic, bit for bit.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::hqq {

// The dtypes hqq's two steps store their results in: codes are in the compute dtype, and each step takes
// LibTorch's type promotion.
struct StepDtypes {
  c10::ScalarType difference, product;
};
StepDtypes step_dtypes(c10::ScalarType compute, const at::Tensor& zero, const at::Tensor& scale);

// Whether dequantize_code_rows handles these dtypes (each step's dtype fp32, fp16 or bf16).
bool code_rows_supported(const StepDtypes& dtypes);

// Code rows [begin, end) of `packed` (the packing's integer dtype, contiguous) into `out`, a contiguous float
// tensor (end - begin, cols). zero and scale hold one value per row of the range (end - begin elements).
// kFastest: on x86 with AVX2 and F16C, byte packings whose steps round to one dtype take eight codes at a time
// with the roundings in registers; the same bits as kPortable.
void dequantize_code_rows(const at::Tensor& packed, const std::string& packing, int64_t begin, int64_t end,
                          const at::Tensor& zero, const at::Tensor& scale, const StepDtypes& dtypes,
                          const at::Tensor& out, sdk::RoundingPath path = sdk::RoundingPath::kFastest);

#ifdef OFT_SDK_X86_ROUNDING
// hqq's two steps for eight codes (as floats), each rounded to kDtype in registers: what dequantize_code_rows gives
// for steps that round to one dtype.
template <c10::ScalarType kDtype>
__attribute__((target("avx2,f16c"))) inline __m256 steps_in_8_lanes(__m256 codes, __m256 zero, __m256 scale) {
  return sdk::rounded_to<kDtype>(_mm256_mul_ps(sdk::rounded_to<kDtype>(_mm256_sub_ps(codes, zero)), scale));
}

// A code row's table of the values its codes of kBits (1, 2 or 4) bits dequantize to, computed by the same steps
// (so the same bits), for sdk::code_values_in_8_lanes: low holds codes 0-7 (codes of 1 and 2 bits repeated, so that
// the bits above them do not matter), high codes 8-15.
template <c10::ScalarType kDtype, int kBits>
struct CodeRowTable {
  __m256 low, high;

  __attribute__((target("avx2,f16c"))) static CodeRowTable of(__m256 zero, __m256 scale) {
    static_assert(kBits == 1 || kBits == 2 || kBits == 4);
    constexpr int kMask = kBits == 4 ? 7 : (1 << kBits) - 1;
    const __m256 low = steps_in_8_lanes<kDtype>(
        _mm256_setr_ps(0 & kMask, 1 & kMask, 2 & kMask, 3 & kMask, 4 & kMask, 5 & kMask, 6 & kMask, 7 & kMask), zero,
        scale);
    if constexpr (kBits < 4) return {low, low};
    return {low, steps_in_8_lanes<kDtype>(_mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15), zero, scale)};
  }
};

// The same table in one sixteen-lane register, for sdk::code_values_in_16_lanes: entry i holds the value of code
// i mod 2^kBits.
template <c10::ScalarType kDtype, int kBits>
__attribute__((target("avx512f"))) inline __m512 code_row_table_16_lanes(float zero, float scale) {
  static_assert(kBits == 1 || kBits == 2 || kBits == 4);
  constexpr int kMask = (1 << kBits) - 1;
  const __m512 codes =
      _mm512_setr_ps(0 & kMask, 1 & kMask, 2 & kMask, 3 & kMask, 4 & kMask, 5 & kMask, 6 & kMask, 7 & kMask, 8 & kMask,
                     9 & kMask, 10 & kMask, 11 & kMask, 12 & kMask, 13 & kMask, 14 & kMask, 15 & kMask);
  const __m512 difference = sdk::rounded_to_16_lanes<kDtype>(_mm512_sub_ps(codes, _mm512_set1_ps(zero)));
  return sdk::rounded_to_16_lanes<kDtype>(_mm512_mul_ps(difference, _mm512_set1_ps(scale)));
}
#endif

}  // namespace oft::hqq
