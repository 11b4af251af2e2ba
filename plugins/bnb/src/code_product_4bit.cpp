#include "code_product_4bit.h"

#include <stdexcept>
#include <string>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include "codes.h"
#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/token_groups.h"

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

// Sixteen bytes (32 codes) of a row at `bytes` for kTokens tokens whose even and odd inputs start at `x`: the
// high nibbles' weights times the even inputs by fused multiply-adds into even[], the low nibbles' times the odd
// ones into odd[].
template <int kTokens>
__attribute__((target("avx512f"))) inline void add_16_bytes(const Operands& p, __m512 table, const uint8_t* bytes,
                                                            const float* x, __m512 (&even)[kTokens],
                                                            __m512 (&odd)[kTokens]) {
  const __m512i wide = sdk::bytes_in_16_lanes(bytes);
  const __m512 first = sdk::code_values_in_16_lanes<4>(table, wide);
  const __m512 second = sdk::code_values_in_16_lanes<0>(table, wide);
#pragma GCC unroll 8
  for (int t = 0; t < kTokens; ++t) {
    const float* xt = x + t * p.in_features;
    even[t] = _mm512_fmadd_ps(first, _mm512_loadu_ps(xt), even[t]);
    odd[t] = _mm512_fmadd_ps(second, _mm512_loadu_ps(xt + p.in_features / 2), odd[t]);
  }
}

// row_in_8_lanes with sixteen lanes (AVX-512F) and fused multiply-adds; blocks of a multiple of 32 codes. Each
// block's table is one register. A block's bytes go sixteen at a time into two alternating sets of sums, so that
// for one token the additions form four chains, not two.
template <c10::ScalarType kDtype, int kTokens>
__attribute__((target("avx512f"))) void row_in_16_lanes(const Operands& p, int64_t n, int64_t t0) {
  const int64_t half = p.in_features / 2, blocks = p.in_features / p.blocksize, block_bytes = p.blocksize / 2;
  const uint8_t* bytes = p.packed + n * half;
  const float* absmax = p.absmax + n * blocks;
  const float* x = p.x + t0 * p.in_features;
  const __m512 codes = _mm512_loadu_ps(p.table);
  __m512 even[2][kTokens], odd[2][kTokens];
  for (int set = 0; set < 2; ++set)
    for (int t = 0; t < kTokens; ++t) even[set][t] = odd[set][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const __m512 table = sdk::rounded_to_16_lanes<kDtype>(_mm512_mul_ps(codes, _mm512_set1_ps(absmax[b])));
    const int64_t end = (b + 1) * block_bytes;
    int64_t j = b * block_bytes;
    for (; j + 32 <= end; j += 32) {
      add_16_bytes<kTokens>(p, table, bytes + j, x + j, even[0], odd[0]);
      add_16_bytes<kTokens>(p, table, bytes + j + 16, x + j + 16, even[1], odd[1]);
    }
    if (j < end) add_16_bytes<kTokens>(p, table, bytes + j, x + j, even[0], odd[0]);
  }
  for (int t = 0; t < kTokens; ++t)
    p.y[(t0 + t) * p.out_features + n] = sdk::lane_sum_in_16_lanes(
        _mm512_add_ps(_mm512_add_ps(even[0][t], odd[0][t]), _mm512_add_ps(even[1][t], odd[1][t])));
}

template <c10::ScalarType kDtype, bool kSixteenLanes, int kTokens>
void row(const Operands& p, int64_t n, int64_t t0) {
  if constexpr (kSixteenLanes)
    row_in_16_lanes<kDtype, kTokens>(p, n, t0);
  else
    row_in_8_lanes<kDtype, kTokens>(p, n, t0);
}

template <c10::ScalarType kDtype, bool kSixteenLanes>
void run_rows(const Operands& p) {
  // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
  at::parallel_for(0, p.out_features, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      sdk::for_each_token_group<kTokensPerPass>(
          p.tokens, [&](auto tokens, int64_t t) { row<kDtype, kSixteenLanes, decltype(tokens)::value>(p, n, t); });
  });
}
#endif

}  // namespace

bool code_product_4bit_takes_16_lanes(int64_t blocksize, sdk::ProductLanes lanes) {
  return sdk::takes_16_lanes(lanes) && blocksize > 0 && blocksize % 32 == 0;
}

bool code_product_4bit_applies(int64_t tokens, int64_t in_features, int64_t blocksize, c10::ScalarType compute_dtype,
                               sdk::ProductLanes lanes) {
  const int64_t limit =
      code_product_4bit_takes_16_lanes(blocksize, lanes) ? kCodeProduct4bitMaxTokens16Lanes : kCodeProduct4bitMaxTokens;
  return tokens >= 1 && tokens <= limit && blocksize > 0 && blocksize % 16 == 0 && in_features % blocksize == 0 &&
         sdk::runs_in_8_lanes(compute_dtype);
}

at::Tensor code_product_4bit(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& absmax, QuantType type,
                             int64_t blocksize, int64_t out_features, c10::ScalarType compute_dtype,
                             sdk::ProductLanes lanes) {
  const int64_t tokens = x.dim() == 2 ? x.size(0) : 0, in_features = x.dim() == 2 ? x.size(1) : 0;
  if (!code_product_4bit_applies(tokens, in_features, blocksize, compute_dtype, lanes) ||
      x.scalar_type() != at::kFloat || !x.is_contiguous() || packed.scalar_type() != at::kByte ||
      !packed.is_contiguous() || packed.numel() != out_features * in_features / 2 ||
      absmax.scalar_type() != at::kFloat || !absmax.is_contiguous() ||
      absmax.numel() != out_features * in_features / blocksize)
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
  const bool sixteen = code_product_4bit_takes_16_lanes(blocksize, lanes);
  sdk::run_in_8_lanes(compute_dtype, sdk::RoundingPath::kFastest, [&](auto dtype) {
    if (sixteen)
      run_rows<decltype(dtype)::value, true>(p);
    else
      run_rows<decltype(dtype)::value, false>(p);
  });
#endif
  return y;
}

}  // namespace oft::bnb
