#include "gptq_gemv_cpu.h"

#include <stdexcept>
#include <string>

#include <ATen/ops/empty.h>

#include "gptq_dequant_cpu.h"
#include "gptq_dequant_math.h"
#include "oft/sdk/prefetch.h"
#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::gptq {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
struct GemvOperands {
  const uint32_t* words;
  const float* zeros;
  const float* scales;
  const int32_t* g_idx;
  const float* x;
  float* y;
  int64_t in, n_out;
  int bits;
};

// Outputs [n0, n0 + kGemvColumns): for each input k in order, its 64 weights decoded, rounded to kRoundTo and
// multiplied with x[k] and added (a fused multiply-add), eight outputs per register.
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c,fma"))) void gemv_columns_8_lanes(const GemvOperands& p, int64_t n0) {
  constexpr int kRegisters = kGemvColumns / 8;
  const __m256i mask = _mm256_set1_epi32(static_cast<int>(math::code_mask(p.bits)));
  __m256 acc[kRegisters];
  for (int r = 0; r < kRegisters; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < p.in; ++k) {
    const math::FieldPosition at_k = math::field_position(k, p.bits);
    const uint32_t* lo = p.words + at_k.row * p.n_out + n0;
    // Each pass reads 256 bytes of every packed row, rows n_out words apart (sdk/prefetch.h): asked for at the
    // first field that starts in a row (shift below the bit width: 0, or 1 and 2 for 3-bit rows).
    if (at_k.shift < static_cast<uint32_t>(p.bits) && k + kPrefetchInputs < p.in)
      sdk::prefetch_bytes(p.words + math::field_position(k + kPrefetchInputs, p.bits).row * p.n_out + n0,
                          kGemvColumns * int64_t{sizeof(uint32_t)});
    const int64_t group = int64_t{p.g_idx[k]} * p.n_out + n0;
    const __m128i by = _mm_cvtsi32_si128(static_cast<int>(at_k.shift));
    // A 3-bit field that straddles takes its high bits from the next row's word.
    const bool across = math::straddles(at_k.shift, p.bits);
    const __m128i up = _mm_cvtsi32_si128(static_cast<int>(32 - at_k.shift));
    const __m256 xk = _mm256_set1_ps(p.x[k]);
#pragma GCC unroll 8
    for (int r = 0; r < kRegisters; ++r) {
      const __m256i words = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + 8 * r));
      __m256i fields = _mm256_srl_epi32(words, by);
      if (across)
        fields = _mm256_or_si256(
            fields, _mm256_sll_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + p.n_out + 8 * r)), up));
      const __m256 codes = _mm256_cvtepi32_ps(_mm256_and_si256(fields, mask));
      const __m256 value = _mm256_mul_ps(_mm256_sub_ps(codes, _mm256_loadu_ps(p.zeros + group + 8 * r)),
                                         _mm256_loadu_ps(p.scales + group + 8 * r));
      acc[r] = _mm256_fmadd_ps(sdk::rounded_to<kRoundTo>(value), xk, acc[r]);
    }
  }
  for (int r = 0; r < kRegisters; ++r) _mm256_storeu_ps(p.y + n0 + 8 * r, acc[r]);
}

// Outputs [n0, n0 + kColumns) with sixteen outputs per register (AVX-512F): each output's sum takes the same steps
// in the same order as gemv_columns_8_lanes, so the same bits.
template <c10::ScalarType kRoundTo, int kColumns>
__attribute__((target("avx512f"))) void gemv_columns_16_lanes(const GemvOperands& p, int64_t n0) {
  constexpr int kRegisters = kColumns / 16;
  constexpr __mmask16 kAll = sdk::kAll16Lanes;
  const __m512i mask = _mm512_set1_epi32(static_cast<int>(math::code_mask(p.bits)));
  __m512 acc[kRegisters];
  for (int r = 0; r < kRegisters; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < p.in; ++k) {
    const math::FieldPosition at_k = math::field_position(k, p.bits);
    const uint32_t* lo = p.words + at_k.row * p.n_out + n0;
    if (at_k.shift < static_cast<uint32_t>(p.bits) && k + kPrefetchInputs < p.in)
      sdk::prefetch_bytes(p.words + math::field_position(k + kPrefetchInputs, p.bits).row * p.n_out + n0,
                          kColumns * int64_t{sizeof(uint32_t)});
    const int64_t group = int64_t{p.g_idx[k]} * p.n_out + n0;
    const __m128i by = _mm_cvtsi32_si128(static_cast<int>(at_k.shift));
    const bool across = math::straddles(at_k.shift, p.bits);
    const __m128i up = _mm_cvtsi32_si128(static_cast<int>(32 - at_k.shift));
    const __m512 xk = _mm512_set1_ps(p.x[k]);
#pragma GCC unroll 16
    for (int r = 0; r < kRegisters; ++r) {
      __m512i fields = _mm512_maskz_srl_epi32(kAll, _mm512_loadu_si512(lo + 16 * r), by);
      if (across)
        fields = _mm512_or_si512(fields, _mm512_maskz_sll_epi32(kAll, _mm512_loadu_si512(lo + p.n_out + 16 * r), up));
      const __m512 codes = _mm512_maskz_cvtepi32_ps(kAll, _mm512_and_si512(fields, mask));
      const __m512 value = _mm512_mul_ps(_mm512_sub_ps(codes, _mm512_loadu_ps(p.zeros + group + 16 * r)),
                                         _mm512_loadu_ps(p.scales + group + 16 * r));
      acc[r] = _mm512_fmadd_ps(sdk::rounded_to_16_lanes<kRoundTo>(value), xk, acc[r]);
    }
  }
  for (int r = 0; r < kRegisters; ++r) _mm512_storeu_ps(p.y + n0 + 16 * r, acc[r]);
}
#endif

}  // namespace

bool gemv_applies(int64_t tokens, int bits, int64_t out_features, c10::ScalarType round_to) {
  return tokens == 1 && (bits == 2 || bits == 3 || bits == 4 || bits == 8) && out_features % kGemvColumns == 0 &&
         sdk::passes_run_in_8_lanes(round_to);
}

at::Tensor gemv_cpu(const at::Tensor& x, const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                    const at::Tensor& g_idx, int bits, c10::ScalarType round_to, sdk::ProductLanes lanes) {
  const int64_t n_out = qweight.size(1), in = g_idx.size(0);
  if (!gemv_applies(1, bits, n_out, round_to) || x.numel() != in || x.scalar_type() != at::kFloat)
    throw std::invalid_argument("gptq: the one-token product does not apply to " + std::to_string(bits) +
                                "-bit weights of " + std::to_string(n_out) + " outputs on this CPU");
  at::Tensor y = at::empty({n_out}, x.options());
#ifdef OFT_SDK_X86_ROUNDING
  const GemvOperands p{.words = reinterpret_cast<const uint32_t*>(qweight.const_data_ptr<int32_t>()),
                       .zeros = zeros.const_data_ptr<float>(),
                       .scales = scales.const_data_ptr<float>(),
                       .g_idx = g_idx.const_data_ptr<int32_t>(),
                       .x = x.const_data_ptr<float>(),
                       .y = y.data_ptr<float>(),
                       .in = in,
                       .n_out = n_out,
                       .bits = bits};
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

}  // namespace oft::gptq
