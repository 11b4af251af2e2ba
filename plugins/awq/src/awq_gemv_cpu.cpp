#include "awq_gemv_cpu.h"

#include <stdexcept>
#include <string>

#include <ATen/ops/empty.h>

#include "oft/sdk/prefetch.h"
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
// multiplied with x[k] (a multiply, then an add), eight outputs per register.
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c"))) void gemv_columns_8_lanes(const GemvOperands& p, int64_t n0) {
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
      acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(sdk::rounded_to<kRoundTo>(value), xk));
    }
  }
  for (int r = 0; r < kRegisters; ++r) _mm256_storeu_ps(p.y + n0 + 8 * r, acc[r]);
}
#endif

}  // namespace

bool gemv_applies(int64_t tokens, int bits, int64_t out_features, c10::ScalarType round_to) {
  return tokens == 1 && bits == 4 && out_features % kGemvColumns == 0 && sdk::runs_in_8_lanes(round_to);
}

at::Tensor gemv_gemm4_cpu(const at::Tensor& x, const at::Tensor& qweight, const at::Tensor& zeros,
                          const at::Tensor& scales, int64_t group_size, c10::ScalarType round_to) {
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
  sdk::for_each_pass_in_8_lanes(round_to, n_out, kGemvColumns,
                                [&](auto dtype, int64_t n0) { gemv_columns_8_lanes<decltype(dtype)::value>(p, n0); });
#endif
  return y;
}

}  // namespace oft::awq
