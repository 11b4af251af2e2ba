#include "code_product_4bit.h"

#include <stdexcept>
#include <string>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include "codes.h"
#include "oft/sdk/code_lookup_8_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::bnb {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
// Output rows per parallel task.
constexpr int64_t kRowsPerTask = 16;
// Tokens per pass over a row's codes: each pass looks them up again, so as many as the registers hold beside the
// tables (two sums per token).
constexpr int kTokensPerPass = 4;

struct Operands {
  const uint8_t* packed;  // the flattened weight's codes, two per byte
  const float* absmax;    // one per block
  const float* table;     // the 16 code values
  const float* x;         // (T, 2, in/2): each token's inputs at even positions, then those at odd ones
  float* y;               // (T, out)
  int64_t tokens, in_features, out_features, blocksize;
};

// Output row n for tokens [t0, t0 + kTokens): over the row's blocks in order, eight bytes (sixteen codes) at a
// time: the high nibbles' weights times the even inputs into one sum, the low nibbles' times the odd ones into
// another (a multiply, then an add: no fused multiply-add); then the lanes, and the two sums.
template <c10::ScalarType kDtype, int kTokens>
__attribute__((target("avx2,f16c"))) void row_in_8_lanes(const Operands& p, int64_t n, int64_t t0) {
  const int64_t half = p.in_features / 2, blocks = p.in_features / p.blocksize;
  const uint8_t* bytes = p.packed + n * half;
  const float* absmax = p.absmax + n * blocks;
  const __m256 codes_low = _mm256_loadu_ps(p.table), codes_high = _mm256_loadu_ps(p.table + 8);
  __m256 even[kTokens], odd[kTokens];
  for (int t = 0; t < kTokens; ++t) even[t] = odd[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    // The block's 16 weights, as dequantize_4bit computes them: table value times absmax in fp32, then rounded.
    const __m256 scale = _mm256_set1_ps(absmax[b]);
    const __m256 low = sdk::rounded_to<kDtype>(_mm256_mul_ps(codes_low, scale));
    const __m256 high = sdk::rounded_to<kDtype>(_mm256_mul_ps(codes_high, scale));
    for (int64_t j = b * p.blocksize / 2; j < (b + 1) * p.blocksize / 2; j += 8) {
      const __m256i wide = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + j)));
      const __m256 first = sdk::code_values_in_8_lanes<4, 4>(low, high, wide);
      const __m256 second = sdk::code_values_in_8_lanes<4, 0>(low, high, wide);
#pragma GCC unroll 8
      for (int t = 0; t < kTokens; ++t) {
        const float* x = p.x + (t0 + t) * p.in_features + j;
        even[t] = _mm256_add_ps(even[t], _mm256_mul_ps(first, _mm256_loadu_ps(x)));
        odd[t] = _mm256_add_ps(odd[t], _mm256_mul_ps(second, _mm256_loadu_ps(x + half)));
      }
    }
  }
  for (int t = 0; t < kTokens; ++t)
    p.y[(t0 + t) * p.out_features + n] = sdk::lane_sum_in_8_lanes(even[t]) + sdk::lane_sum_in_8_lanes(odd[t]);
}

// Tokens [t0, t0 + count) of row n, count < kTokens: the kernel for exactly count tokens.
template <c10::ScalarType kDtype, int kTokens>
void last_tokens(const Operands& p, int64_t n, int64_t t0, int64_t count) {
  if constexpr (kTokens > 1) {
    if (count == kTokens - 1)
      row_in_8_lanes<kDtype, kTokens - 1>(p, n, t0);
    else
      last_tokens<kDtype, kTokens - 1>(p, n, t0, count);
  }
}

template <c10::ScalarType kDtype>
void run_in_8_lanes(const Operands& p) {
  // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
  at::parallel_for(0, p.out_features, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      int64_t t = 0;
      for (; t + kTokensPerPass <= p.tokens; t += kTokensPerPass) row_in_8_lanes<kDtype, kTokensPerPass>(p, n, t);
      if (t < p.tokens) last_tokens<kDtype, kTokensPerPass>(p, n, t, p.tokens - t);
    }
  });
}
#endif

}  // namespace

bool code_product_4bit_applies(int64_t tokens, int64_t in_features, int64_t blocksize, c10::ScalarType compute_dtype) {
  return tokens >= 1 && tokens <= kCodeProduct4bitMaxTokens && blocksize > 0 && blocksize % 16 == 0 &&
         in_features % blocksize == 0 && sdk::runs_in_8_lanes(compute_dtype);
}

at::Tensor code_product_4bit(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& absmax, QuantType type,
                             int64_t blocksize, int64_t out_features, c10::ScalarType compute_dtype) {
  const int64_t tokens = x.dim() == 2 ? x.size(0) : 0, in_features = x.dim() == 2 ? x.size(1) : 0;
  if (!code_product_4bit_applies(tokens, in_features, blocksize, compute_dtype) || x.scalar_type() != at::kFloat ||
      !x.is_contiguous() || packed.scalar_type() != at::kByte || !packed.is_contiguous() ||
      packed.numel() != out_features * in_features / 2 || absmax.scalar_type() != at::kFloat ||
      !absmax.is_contiguous() || absmax.numel() != out_features * in_features / blocksize)
    throw std::invalid_argument("bitsandbytes 4-bit: the code product does not apply to " + std::to_string(tokens) +
                                " tokens of " + std::to_string(in_features) + " inputs in blocks of " +
                                std::to_string(blocksize) + " computed in " + c10::toString(compute_dtype) +
                                " on this CPU (or the codes and absmax do not fit " + std::to_string(out_features) +
                                " outputs)");
  at::Tensor y = at::empty({tokens, out_features}, x.options());
#ifdef OFT_SDK_X86_ROUNDING
  // Each byte holds an even and an odd position's codes: x's values at even and at odd positions, each contiguous.
  const at::Tensor split = x.view({tokens, in_features / 2, 2}).transpose(1, 2).contiguous();
  const Operands p{.packed = packed.const_data_ptr<uint8_t>(),
                   .absmax = absmax.const_data_ptr<float>(),
                   .table = code_table(type).data(),
                   .x = split.const_data_ptr<float>(),
                   .y = y.data_ptr<float>(),
                   .tokens = tokens,
                   .in_features = in_features,
                   .out_features = out_features,
                   .blocksize = blocksize};
  sdk::run_in_8_lanes(compute_dtype, sdk::RoundingPath::kFastest,
                      [&](auto dtype) { run_in_8_lanes<decltype(dtype)::value>(p); });
#endif
  return y;
}

}  // namespace oft::bnb
