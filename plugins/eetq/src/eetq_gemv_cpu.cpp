#include "eetq_gemv_cpu.h"

#include <stdexcept>
#include <string>

#include <ATen/ops/empty.h>

#include "oft/sdk/prefetch.h"
#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::eetq {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
// How many rows of codes ahead each pass prefetches its cache line.
constexpr int64_t kGemvPrefetchRows = 16;

struct GemvOperands {
  const int8_t* codes;
  const float* scales;
  const float* x;
  float* y;
  int64_t in, n_out;
};

// Outputs [n0, n0 + kGemvColumns): for each input k in order, its 64 codes converted, scaled, rounded to kRoundTo
// and multiplied with x[k] and added (a fused multiply-add), eight outputs per register.
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c,fma"))) void gemv_columns_8_lanes(const GemvOperands& p, int64_t n0) {
  constexpr int kRegisters = kGemvColumns / 8;
  __m256 acc[kRegisters];
  for (int r = 0; r < kRegisters; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < p.in; ++k) {
    const int8_t* row = p.codes + k * p.n_out + n0;
    if (k + kGemvPrefetchRows < p.in) sdk::prefetch_bytes(row + kGemvPrefetchRows * p.n_out, kGemvColumns);
    const __m256 xk = _mm256_set1_ps(p.x[k]);
#pragma GCC unroll 8
    for (int r = 0; r < kRegisters; ++r) {
      const __m128i eight = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + 8 * r));
      const __m256 value =
          _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eight)), _mm256_loadu_ps(p.scales + n0 + 8 * r));
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
  __m512 acc[kRegisters];
  for (int r = 0; r < kRegisters; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < p.in; ++k) {
    const int8_t* row = p.codes + k * p.n_out + n0;
    if (k + kGemvPrefetchRows < p.in) sdk::prefetch_bytes(row + kGemvPrefetchRows * p.n_out, kColumns);
    const __m512 xk = _mm512_set1_ps(p.x[k]);
#pragma GCC unroll 16
    for (int r = 0; r < kRegisters; ++r) {
      const __m512 value =
          _mm512_mul_ps(sdk::signed_bytes_as_floats_in_16_lanes(row + 16 * r), _mm512_loadu_ps(p.scales + n0 + 16 * r));
      acc[r] = _mm512_fmadd_ps(sdk::rounded_to_16_lanes<kRoundTo>(value), xk, acc[r]);
    }
  }
  for (int r = 0; r < kRegisters; ++r) _mm512_storeu_ps(p.y + n0 + 16 * r, acc[r]);
}
#endif

}  // namespace

bool gemv_applies(int64_t tokens, int64_t out_features, c10::ScalarType scales_dtype) {
  return tokens == 1 && out_features % kGemvColumns == 0 && sdk::passes_run_in_8_lanes(scales_dtype);
}

at::Tensor gemv_cpu(const at::Tensor& x, const at::Tensor& codes, const at::Tensor& scales, sdk::ProductLanes lanes) {
  const int64_t in = codes.size(0), n_out = codes.size(1);
  if (!gemv_applies(1, n_out, scales.scalar_type()) || x.numel() != in || x.scalar_type() != at::kFloat ||
      codes.scalar_type() != at::kChar || !codes.is_contiguous())
    throw std::invalid_argument("eetq: the one-token product does not apply to " + std::to_string(n_out) +
                                " outputs of " + c10::toString(scales.scalar_type()) + " scales on this CPU");
  at::Tensor y = at::empty({n_out}, x.options());
#ifdef OFT_SDK_X86_ROUNDING
  const at::Tensor float_scales = scales.to(at::kFloat).contiguous();
  const GemvOperands p{.codes = codes.const_data_ptr<int8_t>(),
                       .scales = float_scales.const_data_ptr<float>(),
                       .x = x.const_data_ptr<float>(),
                       .y = y.data_ptr<float>(),
                       .in = in,
                       .n_out = n_out};
  sdk::for_each_one_token_pass(
      scales.scalar_type(), n_out, lanes, kGemvColumns,
      [&](auto dtype, auto width, int64_t n0) {
        gemv_columns_16_lanes<decltype(dtype)::value, decltype(width)::value>(p, n0);
      },
      [&](auto dtype, int64_t n0) { gemv_columns_8_lanes<decltype(dtype)::value>(p, n0); });
#else
  (void)lanes;
#endif
  return y;
}

}  // namespace oft::eetq
