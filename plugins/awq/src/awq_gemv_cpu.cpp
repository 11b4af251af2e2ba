#include "awq_gemv_cpu.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <ATen/ops/empty.h>

#include "oft/sdk/code_lookup_8_lanes.h"
#include "oft/sdk/prefetch.h"
#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::awq {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
// How many rows ahead the packed rows are prefetched (as the tiles do: awq_dequant_cpu.cpp).
constexpr int64_t kGemvPrefetchRows = 16;

struct GemvOperands {
  const uint32_t* words;
  const float* zeros;
  const float* scales;
  const float* x;
  float* y;
  int64_t in, n_out, group_size;
};

// Outputs [n0, n0 + kGemvColumns): for each input k in order, its eight words decoded (column j of a word is
// nibble {0, 4, 1, 5, 2, 6, 3, 7}[j], AWQ's interleave: one variable shift each), rounded to kRoundTo and
// multiplied with x[k] and added (a fused multiply-add), eight outputs per register.
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c,fma"))) void gemv_columns_8_lanes(const GemvOperands& p, int64_t n0) {
  constexpr int kRegisters = kGemvColumns / 8;
  const __m256i shifts = _mm256_setr_epi32(0, 16, 4, 20, 8, 24, 12, 28);
  const __m256i nibble = _mm256_set1_epi32(0xF);
  const int64_t words_per_row = p.n_out / 8;
  __m256 acc[kRegisters];
  for (int r = 0; r < kRegisters; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < p.in; ++k) {
    const uint32_t* row = p.words + k * words_per_row + n0 / 8;
    // Each pass reads 32 bytes of every packed row, rows out/8 words apart (sdk/prefetch.h).
    if (k + kGemvPrefetchRows < p.in)
      sdk::prefetch_bytes(row + kGemvPrefetchRows * words_per_row, kRegisters * int64_t{sizeof(uint32_t)});
    const int64_t group = k / p.group_size * p.n_out + n0;
    const __m256 xk = _mm256_set1_ps(p.x[k]);
#pragma GCC unroll 8
    for (int r = 0; r < kRegisters; ++r) {
      const __m256i word = _mm256_set1_epi32(static_cast<int>(row[r]));
      const __m256 codes = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(word, shifts), nibble));
      const __m256 value = _mm256_mul_ps(_mm256_sub_ps(codes, _mm256_loadu_ps(p.zeros + group + 8 * r)),
                                         _mm256_loadu_ps(p.scales + group + 8 * r));
      acc[r] = _mm256_fmadd_ps(sdk::rounded_to<kRoundTo>(value), xk, acc[r]);
    }
  }
  for (int r = 0; r < kRegisters; ++r) _mm256_storeu_ps(p.y + n0 + 8 * r, acc[r]);
}

// Outputs [n0, n0 + kColumns) with sixteen outputs (two words) per register (AVX-512F): each output's sum takes the
// same steps in the same order as gemv_columns_8_lanes, so the same bits.
template <c10::ScalarType kRoundTo, int kColumns>
__attribute__((target("avx512f"))) void gemv_columns_16_lanes(const GemvOperands& p, int64_t n0) {
  constexpr int kRegisters = kColumns / 16;
  constexpr __mmask16 kAll = sdk::kAll16Lanes;
  const __m512i shifts = _mm512_setr_epi32(0, 16, 4, 20, 8, 24, 12, 28, 0, 16, 4, 20, 8, 24, 12, 28);
  const __m512i word_of_lane = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i nibble = _mm512_set1_epi32(0xF);
  const int64_t words_per_row = p.n_out / 8;
  __m512 acc[kRegisters];
  for (int r = 0; r < kRegisters; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < p.in; ++k) {
    const uint32_t* row = p.words + k * words_per_row + n0 / 8;
    if (k + kGemvPrefetchRows < p.in)
      sdk::prefetch_bytes(row + kGemvPrefetchRows * words_per_row, kColumns / 8 * int64_t{sizeof(uint32_t)});
    const int64_t group = k / p.group_size * p.n_out + n0;
    const __m512 xk = _mm512_set1_ps(p.x[k]);
#pragma GCC unroll 16
    for (int r = 0; r < kRegisters; ++r) {
      const __m512i two_words = _mm512_zextsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + 2 * r)));
      const __m512i words = _mm512_maskz_permutexvar_epi32(kAll, word_of_lane, two_words);
      const __m512i fields = _mm512_and_si512(_mm512_maskz_srlv_epi32(kAll, words, shifts), nibble);
      const __m512 value = _mm512_mul_ps(
          _mm512_sub_ps(_mm512_maskz_cvtepi32_ps(kAll, fields), _mm512_loadu_ps(p.zeros + group + 16 * r)),
          _mm512_loadu_ps(p.scales + group + 16 * r));
      acc[r] = _mm512_fmadd_ps(sdk::rounded_to_16_lanes<kRoundTo>(value), xk, acc[r]);
    }
  }
  for (int r = 0; r < kRegisters; ++r) _mm512_storeu_ps(p.y + n0 + 16 * r, acc[r]);
}

struct GemvLayoutOperands {
  const uint32_t* words;
  const float* zeros;
  const float* scales;
  const float* x;
  float* y;
  int64_t in, groups, group_size;
};

// The four sums of acc[0..3]'s lanes, sum r in lane r.
__attribute__((target("avx2"))) inline __m128 lane_sums_of_4(const __m256 acc[4]) {
  const __m256 pairs = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
  return _mm_add_ps(_mm256_castps256_ps128(pairs), _mm256_extractf128_ps(pairs, 1));
}

// Outputs [n0, n0 + kGemvLayoutRows) of the gemv layout. A group of a row shares one zero and scale, so the 16
// values its codes can take are computed once per group, exactly as the dequantization computes each weight's
// (the same bits), and each word's eight codes pick theirs by a lane permutation (sdk/code_lookup_8_lanes.h; nibble
// i is input 8c + i, one variable shift each), multiplied with x's eight inputs and added into the row's eight
// partial sums by a fused multiply-add (one instruction fewer per eight weights than a multiply and an add: 1 token
// at 4096x4096, 0.89x -> 0.77-0.80x dense).
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c,fma"))) void gemv_layout_rows_8_lanes(const GemvLayoutOperands& p, int64_t n0) {
  constexpr int kRows = kGemvLayoutRows;
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256 codes_low = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7),
               codes_high = _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15);
  const int64_t words = p.in / 8, words_per_group = p.group_size / 8;
  __m256 acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t g = 0; g < p.groups; ++g) {
    __m256 low[kRows], high[kRows];
    for (int r = 0; r < kRows; ++r) {
      const __m256 zero = _mm256_set1_ps(p.zeros[(n0 + r) * p.groups + g]);
      const __m256 scale = _mm256_set1_ps(p.scales[(n0 + r) * p.groups + g]);
      low[r] = sdk::rounded_to<kRoundTo>(_mm256_mul_ps(_mm256_sub_ps(codes_low, zero), scale));
      high[r] = sdk::rounded_to<kRoundTo>(_mm256_mul_ps(_mm256_sub_ps(codes_high, zero), scale));
    }
    const int64_t end = std::min(words, (g + 1) * words_per_group);
    for (int64_t c = g * words_per_group; c < end; ++c) {
      const __m256 x8 = _mm256_loadu_ps(p.x + 8 * c);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) {
        const __m256i word = _mm256_set1_epi32(static_cast<int>(p.words[(n0 + r) * words + c]));
        const __m256 value = sdk::code_values_in_8_lanes<4, 0>(low[r], high[r], _mm256_srlv_epi32(word, shifts));
        acc[r] = _mm256_fmadd_ps(value, x8, acc[r]);
      }
    }
  }
  _mm_storeu_ps(p.y + n0, lane_sums_of_4(acc));
}
#endif

}  // namespace

bool gemv_applies(int64_t tokens, int bits, int64_t out_features, c10::ScalarType round_to) {
  return tokens == 1 && bits == 4 && out_features % kGemvColumns == 0 && sdk::passes_run_in_8_lanes(round_to);
}

at::Tensor gemv_gemm4_cpu(const at::Tensor& x, const at::Tensor& qweight, const at::Tensor& zeros,
                          const at::Tensor& scales, int64_t group_size, c10::ScalarType round_to,
                          sdk::ProductLanes lanes) {
  const int64_t in = qweight.size(0), n_out = scales.size(1);
  if (!gemv_applies(1, 4, n_out, round_to) || x.numel() != in || x.scalar_type() != at::kFloat)
    throw std::invalid_argument("awq: the one-token product does not apply to 4-bit weights of " +
                                std::to_string(n_out) + " outputs on this CPU");
  at::Tensor y = at::empty({n_out}, x.options());
#ifdef OFT_SDK_X86_ROUNDING
  const GemvOperands p{.words = reinterpret_cast<const uint32_t*>(qweight.const_data_ptr<int32_t>()),
                       .zeros = zeros.const_data_ptr<float>(),
                       .scales = scales.const_data_ptr<float>(),
                       .x = x.const_data_ptr<float>(),
                       .y = y.data_ptr<float>(),
                       .in = in,
                       .n_out = n_out,
                       .group_size = group_size};
  sdk::for_each_one_token_pass(
      round_to, n_out, lanes, kGemvColumns,
      [&](auto dtype, auto width, int64_t n0) {
        gemv_columns_16_lanes<decltype(dtype)::value, decltype(width)::value>(p, n0);
      },
      [&](auto dtype, int64_t n0) { gemv_columns_8_lanes<decltype(dtype)::value>(p, n0); });
#else
  (void)lanes;
#endif
  return y;
}

bool gemv_layout_applies(int64_t tokens, int64_t out_features, int64_t group_size, c10::ScalarType round_to) {
  return tokens == 1 && out_features % kGemvLayoutRows == 0 && group_size % 8 == 0 &&
         sdk::passes_run_in_8_lanes(round_to);
}

at::Tensor gemv_sequential4_cpu(const at::Tensor& x, const at::Tensor& qweight, const at::Tensor& zeros,
                                const at::Tensor& scales, int64_t group_size, c10::ScalarType round_to) {
  const int64_t n_out = qweight.size(0), in = 8 * qweight.size(1);
  if (!gemv_layout_applies(1, n_out, group_size, round_to) || x.numel() != in || x.scalar_type() != at::kFloat)
    throw std::invalid_argument("awq: the one-token product does not apply to gemv-layout weights of " +
                                std::to_string(n_out) + " outputs and group size " + std::to_string(group_size) +
                                " on this CPU");
  at::Tensor y = at::empty({n_out}, x.options());
#ifdef OFT_SDK_X86_ROUNDING
  const GemvLayoutOperands p{.words = reinterpret_cast<const uint32_t*>(qweight.const_data_ptr<int32_t>()),
                             .zeros = zeros.const_data_ptr<float>(),
                             .scales = scales.const_data_ptr<float>(),
                             .x = x.const_data_ptr<float>(),
                             .y = y.data_ptr<float>(),
                             .in = in,
                             .groups = scales.size(1),
                             .group_size = group_size};
  sdk::for_each_pass_in_8_lanes(round_to, n_out, kGemvLayoutRows, [&](auto dtype, int64_t n0) {
    gemv_layout_rows_8_lanes<decltype(dtype)::value>(p, n0);
  });
#endif
  return y;
}

}  // namespace oft::awq
