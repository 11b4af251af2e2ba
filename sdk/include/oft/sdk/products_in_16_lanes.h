#pragma once
// For plugins' few-token products in sixteen lanes on x86 CPUs with AVX-512F (where OFT_SDK_X86_ROUNDING is defined).
//
// A 4-bit code's value by one lane permutation of a 16-entry table held in one register: the eight-lane lookup
// (code_lookup_8_lanes.h) needs two permutations and a blend per eight codes, all but one on the same execution port
// of Intel's cores; here one permutation serves sixteen codes, and since vpermps over 16 lanes reads only an index's
// low 4 bits, a code in a byte's low nibble needs no mask either. Sixteen floats rounded to fp16/bf16 values in
// registers (rounded_to's bits), int8 widened to floats, and the fixed-order sum of a register's lanes.
//
// One-token products over an (in, out) weight (a row of codes per input) take passes of up to 256 outputs
// (for_each_wide_pass_in_16_lanes): a pass visits every row, and a wider pass reads more of each row per visit, several
// adjacent cache lines, which the hardware prefetcher follows (eetq's int8 rows, 64 bytes per pass at 64 outputs:
// oft generate 30.5 -> 45-47 tokens/s at 256).
//
// Which lanes a product takes is a choice of its caller (ProductLanes): the widest the CPU runs, or eight, so tests
// pin each path whatever CPU runs them.
#include "oft/sdk/code_lookup_8_lanes.h"

namespace oft::sdk {

enum class ProductLanes {
  kWidest,  // sixteen where the CPU has AVX-512F, else eight
  kEight,   // the AVX2 path even where AVX-512F is there
};

// Whether a product asked for `lanes` takes its sixteen-lane path on this CPU (never where the SDK has no x86 paths).
inline bool takes_16_lanes(ProductLanes lanes) {
#ifdef OFT_SDK_X86_ROUNDING
  return lanes == ProductLanes::kWidest && cpu_has_avx512f();
#else
  (void)lanes;
  return false;
#endif
}

// The widest of 256, 128 and 64 outputs per pass that divides out_features (a multiple of 64) and still gives every
// intra-op thread a pass.
inline int64_t wide_pass_columns(int64_t out_features) {
  for (const int64_t columns : {256, 128})
    if (out_features % columns == 0 && out_features / columns >= at::get_num_threads()) return columns;
  return 64;
}

#ifdef OFT_SDK_X86_ROUNDING
// GCC 12 warns that the plain AVX-512 intrinsics' undefined pass-through operand "may be used uninitialized"
// (GCC bug 105593); their zero-masking forms with every lane selected are the same instructions without it.
constexpr __mmask16 kAll16Lanes = 0xffff;

// Sixteen bytes widened to one 32-bit lane each.
__attribute__((target("avx512f"))) inline __m512i bytes_in_16_lanes(const uint8_t* bytes) {
  return _mm512_maskz_cvtepu8_epi32(kAll16Lanes, _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
}

// Sixteen int8 values as floats.
__attribute__((target("avx512f"))) inline __m512 signed_bytes_as_floats_in_16_lanes(const int8_t* bytes) {
  const __m512i wide =
      _mm512_maskz_cvtepi8_epi32(kAll16Lanes, _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
  return _mm512_maskz_cvtepi32_ps(kAll16Lanes, wide);
}

// for_each_pass_in_8_lanes over passes of wide_pass_columns(out_features) outputs: calls pass(kind, width, n0) with
// kind the dtype's std::integral_constant and width std::integral_constant<int, columns>, for the sixteen-lane
// passes of a plugin's one-token product (whose rounding needs what run_in_8_lanes checks, AVX2 and F16C, too).
template <typename Pass>
void for_each_wide_pass_in_16_lanes(c10::ScalarType dtype, int64_t out_features, const Pass& pass) {
  const auto passes_of = [&](auto width) {
    for_each_pass_in_8_lanes(dtype, out_features, width.value, [&](auto kind, int64_t n0) { pass(kind, width, n0); });
  };
  switch (wide_pass_columns(out_features)) {
    case 256: return passes_of(std::integral_constant<int, 256>{});
    case 128: return passes_of(std::integral_constant<int, 128>{});
    default: return passes_of(std::integral_constant<int, 64>{});
  }
}

// A one-token product over an (in, out) weight with both paths: where takes_16_lanes(lanes),
// for_each_wide_pass_in_16_lanes(dtype, out_features, pass_16_lanes); else for_each_pass_in_8_lanes over passes of
// `columns_8_lanes` outputs with pass_8_lanes(kind, n0).
template <typename Pass16, typename Pass8>
void for_each_one_token_pass(c10::ScalarType dtype, int64_t out_features, ProductLanes lanes, int64_t columns_8_lanes,
                             const Pass16& pass_16_lanes, const Pass8& pass_8_lanes) {
  if (takes_16_lanes(lanes))
    for_each_wide_pass_in_16_lanes(dtype, out_features, pass_16_lanes);
  else
    for_each_pass_in_8_lanes(dtype, out_features, columns_8_lanes, pass_8_lanes);
}

// Sixteen floats rounded to kDtype's values (kFloat: unchanged) in registers: rounded_to's bits.
template <c10::ScalarType kDtype>
__attribute__((target("avx512f"))) inline __m512 rounded_to_16_lanes(__m512 v) {
  static_assert(kDtype == c10::kFloat || kDtype == c10::kHalf || kDtype == c10::kBFloat16);
  if constexpr (kDtype == c10::kHalf) {
    return _mm512_maskz_cvtph_ps(kAll16Lanes, _mm512_maskz_cvtps_ph(kAll16Lanes, v, _MM_FROUND_TO_NEAREST_INT));
  } else if constexpr (kDtype == c10::kBFloat16) {
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_maskz_srli_epi32(kAll16Lanes, bits, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_and_si512(_mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)),
                                             _mm512_set1_epi32(static_cast<int>(0xffff0000u)));
    const __mmask16 nan =
        _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    const __m512i quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x00400000));
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(nan, rounded, quiet));
  } else {
    return v;
  }
}

// Each 32-bit lane of `lanes` holds a 4-bit code at bits [kShift, kShift + 4) (bits above it are ignored); returns
// the codes' values table[code].
template <int kShift>
__attribute__((target("avx512f"))) inline __m512 code_values_in_16_lanes(__m512 table, __m512i lanes) {
  static_assert(kShift >= 0 && kShift <= 28);
  if constexpr (kShift == 0)
    return _mm512_maskz_permutexvar_ps(kAll16Lanes, lanes, table);
  else
    return _mm512_maskz_permutexvar_ps(kAll16Lanes, _mm512_maskz_srli_epi32(kAll16Lanes, lanes, kShift), table);
}

// The sum of v's sixteen lanes in a fixed order: lane i + lane i + 8, then as lane_sum_in_8_lanes.
__attribute__((target("avx512f"))) inline float lane_sum_in_16_lanes(__m512 v) {
  const __m512d wide = _mm512_castps_pd(v);
  return lane_sum_in_8_lanes(_mm256_add_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, wide, 0)),
                                           _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, wide, 1))));
}
#endif

}  // namespace oft::sdk
