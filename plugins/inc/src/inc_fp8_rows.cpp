#include "inc_fp8_rows.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <c10/util/Float8_e4m3fn.h>
#include <c10/util/Float8_e5m2.h>

#include "oft/sdk/prefetch.h"
#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::inc {
namespace {

template <typename Fp8>
std::array<float, 256> values_of_all_bytes() {
  std::array<float, 256> values{};
  for (int b = 0; b < 256; ++b) values[b] = static_cast<float>(Fp8(static_cast<uint8_t>(b), Fp8::from_bits()));
  return values;
}

// How many rows ahead the codes are prefetched.
constexpr int64_t kPrefetchRows = 16;

// Calls row(codes of row r, scales, cols, out row r) for each row. Always inlined, so that the row inlines too in
// the callers compiled for AVX2.
template <typename Row>
[[gnu::always_inline]] inline void for_each_row(const uint8_t* codes, int64_t ld, int64_t rows, int64_t cols,
                                                const float* scales, float* out, const Row& row) {
  for (int64_t r = 0; r < rows; ++r) {
    // A tile's columns are a short run of each row, a row apart: ask for a row ahead (sdk/prefetch.h).
    if (cols < ld && r + kPrefetchRows < rows) sdk::prefetch_bytes(codes + (r + kPrefetchRows) * ld, cols);
    row(codes + r * ld, scales, cols, out + r * cols);
  }
}

#ifdef OFT_SDK_X86_ROUNDING
// The last codes of a row (fewer than eight) through the table.
void dequantize_tail_by_table(const uint8_t* codes, const float* scales, int64_t count, const Fp8Rows& how,
                              float* out) {
  const std::array<float, 256>& value = fp8_values(how.fp8);
  for (int64_t n = 0; n < count; ++n) out[n] = value[codes[n]] * scales[n];
  sdk::round_in_place(out, count, how.round_to);
}

// Eight codes as the fp16 values they equal (E4M3: divided by 2^8, undone by the caller). E4M3 (bias 7) shifted
// into fp16 (bias 15) is its value times 2^-8, its subnormals included (they land on fp16 subnormals of the same
// mantissa); its NaN (0x7f) becomes fp16's NaN with LibTorch's payload. E5M2 is fp16's upper byte.
template <c10::ScalarType kFp8>
__attribute__((target("avx2,f16c"))) inline __m256 fp8_as_float(const uint8_t* codes) {
  const __m128i bytes = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes)));
  if constexpr (kFp8 == c10::kFloat8_e5m2) return _mm256_cvtph_ps(_mm_slli_epi16(bytes, 8));
  const __m128i magnitude = _mm_and_si128(bytes, _mm_set1_epi16(0x7f));
  const __m128i sign = _mm_slli_epi16(_mm_and_si128(bytes, _mm_set1_epi16(0x80)), 8);
  const __m128i nan = _mm_and_si128(_mm_cmpeq_epi16(magnitude, _mm_set1_epi16(0x7f)), _mm_set1_epi16(0x4000));
  const __m128i half = _mm_or_si128(_mm_or_si128(_mm_slli_epi16(magnitude, 7), sign), nan);
  return _mm256_mul_ps(_mm256_cvtph_ps(half), _mm256_set1_ps(256.0f));  // exact: a power of two
}

template <c10::ScalarType kFp8, c10::ScalarType kRoundTo>
struct RowIn8Lanes {
  const Fp8Rows& how;
  __attribute__((target("avx2,f16c"))) void operator()(const uint8_t* codes, const float* scales, int64_t count,
                                                       float* out) const {
    int64_t n = 0;
    for (; n + 8 <= count; n += 8) {
      const __m256 value = _mm256_mul_ps(fp8_as_float<kFp8>(codes + n), _mm256_loadu_ps(scales + n));
      _mm256_storeu_ps(out + n, sdk::rounded_to<kRoundTo>(value));
    }
    if (n < count) dequantize_tail_by_table(codes + n, scales + n, count - n, how, out + n);
  }
};

template <c10::ScalarType kFp8, c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c"))) void dequantize_rows_8_lanes(const uint8_t* codes, int64_t ld, int64_t rows,
                                                                  int64_t cols, const float* scales, const Fp8Rows& how,
                                                                  float* out) {
  for_each_row(codes, ld, rows, cols, scales, out, RowIn8Lanes<kFp8, kRoundTo>{how});
}

// Sixteen codes as fp16 bits, code i in lane i, valued as fp8_as_float's (E4M3: times 2^-8). E4M3: the code shifted
// left 7 puts exponent and mantissa in place and the sign at bit 14, which adding that bit moves to bit 15 (the
// code is below 2^8, so nothing else carries).
template <c10::ScalarType kFp8>
__attribute__((target("avx2"))) inline __m256i fp8_16_as_half_bits(const uint8_t* codes) {
  const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes)));
  if constexpr (kFp8 == c10::kFloat8_e5m2) return _mm256_slli_epi16(bytes, 8);
  const __m256i shifted = _mm256_slli_epi16(bytes, 7);
  const __m256i half = _mm256_add_epi16(shifted, _mm256_and_si256(shifted, _mm256_set1_epi16(0x4000)));
  const __m256i is_nan = _mm256_cmpeq_epi16(_mm256_or_si256(bytes, _mm256_set1_epi16(0x80)), _mm256_set1_epi16(0xff));
  return _mm256_or_si256(half, _mm256_and_si256(is_nan, _mm256_set1_epi16(0x4000)));
}

// v rounded to kRoundTo where v is a product of values from fp16 or bf16 (its NaNs have their low 16 bits zero, so
// bf16's round-to-nearest-even add cannot carry a NaN into infinity, and the rounding needs no NaN case).
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c"))) inline __m256 rounded_product_to(__m256 v) {
  if constexpr (kRoundTo != c10::kBFloat16) {
    return sdk::rounded_to<kRoundTo>(v);
  } else {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd));
    return _mm256_castsi256_ps(_mm256_and_si256(rounded, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  }
}

// Outputs [0, kGemvColumns) of a pass, sixteen codes per decode. `scales` are the pass's scales times what the
// decoded codes lack (E4M3: 2^8, exact where that does not overflow; fp8_gemv checks), so one multiply gives
// value(code) * scale, rounded to kRoundTo as the dequantization does.
template <c10::ScalarType kFp8, c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c,fma"))) void gemv_columns_8_lanes(const uint8_t* codes, int64_t ld, int64_t rows,
                                                                   const float* scales, const float* x, float* y) {
  constexpr int kRegisters = kGemvColumns / 8;
  __m256 acc[kRegisters];
  for (int r = 0; r < kRegisters; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < rows; ++k) {
    const uint8_t* row = codes + k * ld;
    // Each call reads one cache line of every row, rows ld bytes apart (sdk/prefetch.h).
    if (k + kPrefetchRows < rows) sdk::prefetch_bytes(row + kPrefetchRows * ld, kGemvColumns);
    const __m256 xk = _mm256_set1_ps(x[k]);
#pragma GCC unroll 4
    for (int r = 0; r < kRegisters; r += 2) {
      const __m256i half = fp8_16_as_half_bits<kFp8>(row + 8 * r);
      const __m256 low = _mm256_cvtph_ps(_mm256_castsi256_si128(half));
      const __m256 high = _mm256_cvtph_ps(_mm256_extracti128_si256(half, 1));
      const __m256 value_low = _mm256_mul_ps(low, _mm256_loadu_ps(scales + 8 * r));
      const __m256 value_high = _mm256_mul_ps(high, _mm256_loadu_ps(scales + 8 * r + 8));
      acc[r] = _mm256_fmadd_ps(rounded_product_to<kRoundTo>(value_low), xk, acc[r]);
      acc[r + 1] = _mm256_fmadd_ps(rounded_product_to<kRoundTo>(value_high), xk, acc[r + 1]);
    }
  }
  for (int r = 0; r < kRegisters; ++r) _mm256_storeu_ps(y + 8 * r, acc[r]);
}

// rounded_product_to in sixteen lanes.
template <c10::ScalarType kRoundTo>
__attribute__((target("avx512f"))) inline __m512 rounded_product_to_16_lanes(__m512 v) {
  if constexpr (kRoundTo != c10::kBFloat16) {
    return sdk::rounded_to_16_lanes<kRoundTo>(v);
  } else {
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_maskz_srli_epi32(sdk::kAll16Lanes, bits, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
    return _mm512_castsi512_ps(_mm512_and_si512(rounded, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
}

// Outputs [0, kColumns) of a pass with sixteen outputs per register (AVX-512F): each output's sum takes the same
// steps in the same order as gemv_columns_8_lanes, so the same bits.
template <c10::ScalarType kFp8, c10::ScalarType kRoundTo, int kColumns>
__attribute__((target("avx512f"))) void gemv_columns_16_lanes(const uint8_t* codes, int64_t ld, int64_t rows,
                                                              const float* scales, const float* x, float* y) {
  constexpr int kRegisters = kColumns / 16;
  __m512 acc[kRegisters];
  for (int r = 0; r < kRegisters; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < rows; ++k) {
    const uint8_t* row = codes + k * ld;
    if (k + kPrefetchRows < rows) sdk::prefetch_bytes(row + kPrefetchRows * ld, kColumns);
    const __m512 xk = _mm512_set1_ps(x[k]);
#pragma GCC unroll 16
    for (int r = 0; r < kRegisters; ++r) {
      const __m512 decoded = _mm512_maskz_cvtph_ps(sdk::kAll16Lanes, fp8_16_as_half_bits<kFp8>(row + 16 * r));
      const __m512 value = _mm512_mul_ps(decoded, _mm512_loadu_ps(scales + 16 * r));
      acc[r] = _mm512_fmadd_ps(rounded_product_to_16_lanes<kRoundTo>(value), xk, acc[r]);
    }
  }
  for (int r = 0; r < kRegisters; ++r) _mm512_storeu_ps(y + 16 * r, acc[r]);
}
#endif

}  // namespace

bool fp8_gemv_applies(const Fp8Rows& how) {
  const bool fp8 = how.fp8 == c10::kFloat8_e4m3fn || how.fp8 == c10::kFloat8_e5m2;
  return fp8 && how.path == sdk::RoundingPath::kFastest && sdk::passes_run_in_8_lanes(how.round_to);
}

void fp8_gemv(const uint8_t* codes, int64_t ld, int64_t rows, int64_t cols, const float* scales, const float* x,
              const Fp8Rows& how, float* y, sdk::ProductLanes lanes) {
  if (!fp8_gemv_applies(how) || cols % kGemvColumns != 0)
    throw std::logic_error("inc: fp8_gemv called where fp8_gemv_applies does not hold");
#ifdef OFT_SDK_X86_ROUNDING
  // The decoded E4M3 codes are their values times 2^-8: the scales carry the 2^8 (exact: a power of two, and no
  // scale is above kFp8GemvMaxScale).
  const float lack = how.fp8 == c10::kFloat8_e4m3fn ? 256.0f : 1.0f;
  std::vector<float> folded(scales, scales + cols);
  for (float& s : folded) {
    if (!(std::abs(s) <= kFp8GemvMaxScale))
      throw std::logic_error("inc: fp8_gemv called with a scale above kFp8GemvMaxScale or NaN");
    s *= lack;
  }
  const auto passes = [&]<c10::ScalarType kFp8>() {
    sdk::for_each_one_token_pass(
        how.round_to, cols, lanes, kGemvColumns,
        [&](auto round_to, auto width, int64_t n0) {
          gemv_columns_16_lanes<kFp8, decltype(round_to)::value, decltype(width)::value>(codes + n0, ld, rows,
                                                                                         folded.data() + n0, x, y + n0);
        },
        [&](auto round_to, int64_t n0) {
          gemv_columns_8_lanes<kFp8, decltype(round_to)::value>(codes + n0, ld, rows, folded.data() + n0, x, y + n0);
        });
  };
  if (how.fp8 == c10::kFloat8_e4m3fn)
    passes.template operator()<c10::kFloat8_e4m3fn>();
  else
    passes.template operator()<c10::kFloat8_e5m2>();
#else
  (void)codes, (void)ld, (void)rows, (void)scales, (void)x, (void)y, (void)lanes;
#endif
}

const std::array<float, 256>& fp8_values(c10::ScalarType fp8) {
  static const std::array<float, 256> e4m3 = values_of_all_bytes<c10::Float8_e4m3fn>();
  static const std::array<float, 256> e5m2 = values_of_all_bytes<c10::Float8_e5m2>();
  if (fp8 == c10::kFloat8_e4m3fn) return e4m3;
  if (fp8 == c10::kFloat8_e5m2) return e5m2;
  throw std::invalid_argument(std::string("inc: expected float8_e4m3fn or float8_e5m2, got ") + c10::toString(fp8));
}

void dequantize_fp8_rows(const uint8_t* codes, int64_t ld, int64_t rows, int64_t cols, const float* scales,
                         const Fp8Rows& how, float* out) {
  const std::array<float, 256>& value = fp8_values(how.fp8);  // throws for anything but the two FP8 dtypes
#ifdef OFT_SDK_X86_ROUNDING
  if (sdk::run_in_8_lanes(how.round_to, how.path, [&](auto round_to) {
        constexpr c10::ScalarType kRoundTo = decltype(round_to)::value;
        if (how.fp8 == c10::kFloat8_e4m3fn)
          dequantize_rows_8_lanes<c10::kFloat8_e4m3fn, kRoundTo>(codes, ld, rows, cols, scales, how, out);
        else
          dequantize_rows_8_lanes<c10::kFloat8_e5m2, kRoundTo>(codes, ld, rows, cols, scales, how, out);
      }))
    return;
#endif
  for_each_row(codes, ld, rows, cols, scales, out,
               [&](const uint8_t* row_codes, const float* row_scales, int64_t count, float* row_out) {
                 for (int64_t n = 0; n < count; ++n) row_out[n] = value[row_codes[n]] * row_scales[n];
               });
  sdk::round_in_place(out, rows * cols, how.round_to);  // the rows are contiguous in `out`: one call
}

}  // namespace oft::inc
