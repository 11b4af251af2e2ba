#pragma once
// For plugins' eight-lane products on x86 CPUs with AVX2 (where OFT_SDK_X86_ROUNDING is defined): codes of up to 4
// bits turned into their values by a table lookup in registers, and the fixed-order sum of a register's lanes.
//
// Where a block or code row of weights shares one scale (bitsandbytes' NF4/FP4 blocks, hqq's code rows), the 16
// values its 4-bit codes can take are computed once per block, exactly as the dequantization computes each
// weight's, and held in two registers (codes 0-7 and 8-15); each lane then picks its code's value with a lane
// permutation and, for the fourth bit, a blend: two or three instructions per eight weights instead of the
// dequantization's steps, the same bits.
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::sdk {

#ifdef OFT_SDK_X86_ROUNDING
// Each 32-bit lane of `lanes` holds a code of kBits (1 to 4) bits at bits [kShift, kShift + kBits); returns the
// codes' values: low[code] for codes 0-7, high[code - 8] for 8-15. The lookup reads bits [kShift, kShift + 3) (and
// kShift + 3 for 4 bits) and ignores the others, so for codes of 1 or 2 bits `low` must repeat their values
// (entry i holding the value of code i mod 2^kBits) when the bits above the code are not zero.
template <int kBits, int kShift>
__attribute__((target("avx2"))) inline __m256 code_values_in_8_lanes(__m256 low, __m256 high, __m256i lanes) {
  static_assert(kBits >= 1 && kBits <= 4 && kShift >= 0 && kShift + kBits <= 32);
  const __m256i index = _mm256_srli_epi32(lanes, kShift);
  const __m256 value = _mm256_permutevar8x32_ps(low, index);
  if constexpr (kBits < 4) {
    (void)high;
    return value;
  } else {
    // The code's fourth bit, moved to the sign bit, picks the high table.
    const __m256 fourth = _mm256_castsi256_ps(_mm256_slli_epi32(lanes, 28 - kShift));
    return _mm256_blendv_ps(value, _mm256_permutevar8x32_ps(high, index), fourth);
  }
}

// The sum of v's eight lanes in a fixed order: lane i + lane i + 4 for i < 4 (a, b, c, d), then (a + b) + (c + d);
// the order simd4's four-lane code reduces in after adding its two halves.
__attribute__((target("avx"))) inline float lane_sum_in_8_lanes(__m256 v) {
  const __m128 halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, halves);
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}
#endif

}  // namespace oft::sdk
