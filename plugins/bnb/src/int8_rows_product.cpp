#include "int8_rows_product.h"

#include <stdexcept>
#include <string>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/token_groups.h"

namespace oft::bnb {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
// Weight rows per parallel task.
constexpr int64_t kWeightRowsPerTask = 32;
// Activation rows per pass over a weight row (each pass reads the row again, from L1 after the first).
constexpr int kActivationRowsPerPass = 4;

struct Int8Operands {
  const int16_t* a;  // (rows, k), the activations' codes widened once
  const int8_t* b;   // (n, k)
  int32_t* out;      // (rows, n)
  int64_t rows, k, n;
};

__attribute__((target("avx2"))) inline int32_t int32_lane_sum(__m256i v) {
  const __m128i halves = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i pairs = _mm_add_epi32(halves, _mm_shuffle_epi32(halves, 0x4E));
  return _mm_cvtsi128_si32(_mm_add_epi32(pairs, _mm_shuffle_epi32(pairs, 0xB1)));
}

// Weight row j against activation rows [r0, r0 + kTokens).
template <int kTokens>
__attribute__((target("avx2"))) void weight_row_in_8_lanes(const Int8Operands& p, int64_t j, int64_t r0) {
  const int8_t* w = p.b + j * p.k;
  __m256i acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 16 <= p.k; i += 16) {
    const __m256i codes = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
#pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.a + (r0 + t) * p.k + i));
      acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(codes, x));
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    int32_t sum = int32_lane_sum(acc[t]);
    for (int64_t tail = i; tail < p.k; ++tail) sum += int32_t{w[tail]} * p.a[(r0 + t) * p.k + tail];
    p.out[(r0 + t) * p.n + j] = sum;
  }
}

// The same with AVX-512BW: thirty-two codes at a time into sixteen int32 lanes (exact sums, so the same result).
template <int kTokens>
__attribute__((target("avx512f,avx512bw"))) void weight_row_in_16_lanes(const Int8Operands& p, int64_t j, int64_t r0) {
  const int8_t* w = p.b + j * p.k;
  __m512i acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 32 <= p.k; i += 32) {
    const __m512i codes = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
#pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) {
      const __m512i x = _mm512_loadu_si512(p.a + (r0 + t) * p.k + i);
      acc[t] = _mm512_add_epi32(acc[t], _mm512_madd_epi16(codes, x));
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    const __m256i low = _mm512_maskz_extracti64x4_epi64(0xff, acc[t], 0);
    const __m256i high = _mm512_maskz_extracti64x4_epi64(0xff, acc[t], 1);
    int32_t sum = int32_lane_sum(_mm256_add_epi32(low, high));
    for (int64_t tail = i; tail < p.k; ++tail) sum += int32_t{w[tail]} * p.a[(r0 + t) * p.k + tail];
    p.out[(r0 + t) * p.n + j] = sum;
  }
}

template <bool kSixteenLanes, int kTokens>
void weight_row(const Int8Operands& p, int64_t j, int64_t r0) {
  if constexpr (kSixteenLanes)
    weight_row_in_16_lanes<kTokens>(p, j, r0);
  else
    weight_row_in_8_lanes<kTokens>(p, j, r0);
}

template <bool kSixteenLanes>
void weight_rows(const Int8Operands& p) {
  // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
  at::parallel_for(0, p.n, kWeightRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
      sdk::for_each_token_group<kActivationRowsPerPass>(
          p.rows, [&](auto rows, int64_t r) { weight_row<kSixteenLanes, decltype(rows)::value>(p, j, r); });
  });
}
#endif

}  // namespace

bool int8_rows_product_applies(int64_t rows, int64_t columns) {
#ifdef OFT_SDK_X86_ROUNDING
  return rows >= 1 && rows <= kInt8RowsProductMaxRows && columns <= kInt8RowsProductMaxColumns && sdk::cpu_has_avx2();
#else
  (void)rows;
  (void)columns;
  return false;
#endif
}

bool int8_rows_product_takes_16_lanes(sdk::ProductLanes lanes) {
#ifdef OFT_SDK_X86_ROUNDING
  return sdk::takes_16_lanes(lanes) && sdk::cpu_has_avx512bw();
#else
  (void)lanes;
  return false;
#endif
}

at::Tensor int8_rows_product(const at::Tensor& a, const at::Tensor& b, sdk::ProductLanes lanes) {
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1) || a.scalar_type() != at::kChar ||
      b.scalar_type() != at::kChar || !b.is_contiguous() || !int8_rows_product_applies(a.size(0), a.size(1)))
    throw std::invalid_argument("bitsandbytes 8-bit: the int8 rows product does not apply to " +
                                std::to_string(a.dim() == 2 ? a.size(0) : 0) + " rows of int8 activations against a " +
                                "contiguous int8 weight of as many columns on this CPU");
  at::Tensor out = at::empty({a.size(0), b.size(0)}, a.options().dtype(at::kInt));
#ifdef OFT_SDK_X86_ROUNDING
  const at::Tensor wide = a.to(at::kShort).contiguous();
  const Int8Operands p{.a = wide.const_data_ptr<int16_t>(),
                       .b = b.const_data_ptr<int8_t>(),
                       .out = out.data_ptr<int32_t>(),
                       .rows = a.size(0),
                       .k = a.size(1),
                       .n = b.size(0)};
  if (int8_rows_product_takes_16_lanes(lanes))
    weight_rows<true>(p);
  else
    weight_rows<false>(p);
#endif
  return out;
}

}  // namespace oft::bnb
