#include "gptq_dequant_cpu.h"

#include <cstdint>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "gptq_dequant_math.h"
#include "oft/sdk/prefetch.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::gptq {
namespace {

// `count` columns of one input k, from its packed words (lo; hi where 3-bit fields continue in the next word)
// and its group's zeros and scales. GCC vectorizes at -O2 only loops with a constant trip count, so columns go
// eight at a time, then one by one; __restrict rules out overlap checks.
void dequantize_columns(const uint32_t* __restrict lo, const uint32_t* __restrict hi, const float* __restrict zg,
                        const float* __restrict sg, uint32_t shift, int bits, int64_t count, float* __restrict wk) {
  constexpr int kChunk = 8;
  const uint32_t mask = math::code_mask(bits);
  int64_t n = 0;
  if (!math::straddles(shift, bits)) {
    for (; n + kChunk <= count; n += kChunk)
      for (int j = 0; j < kChunk; ++j)
        wk[n + j] = math::dequantize_value(math::code_in_word(lo[n + j], shift, mask), zg[n + j], sg[n + j]);
    for (; n < count; ++n) wk[n] = math::dequantize_value(math::code_in_word(lo[n], shift, mask), zg[n], sg[n]);
  } else {  // 3 bits: the field continues in the next word
    for (; n + kChunk <= count; n += kChunk)
      for (int j = 0; j < kChunk; ++j)
        wk[n + j] =
            math::dequantize_value(math::code_across_words(lo[n + j], hi[n + j], shift, mask), zg[n + j], sg[n + j]);
    for (; n < count; ++n)
      wk[n] = math::dequantize_value(math::code_across_words(lo[n], hi[n], shift, mask), zg[n], sg[n]);
  }
}

// Calls columns(lo, hi, zg, sg, shift, wk) for each input k in [k0, k1): its packed words from column n0 (hi: the
// next words, where 3-bit fields straddle), its group's zeros and scales, and its output row wk, at
// w + (k - k0) * (n1 - n0). Always inlined, so that the columns inline too in the callers compiled for AVX2.
template <typename Columns>
[[gnu::always_inline]] inline void for_each_input(const uint32_t* words, const float* z, const float* s,
                                                  const int32_t* g, int64_t n_out, int bits, int64_t k0, int64_t k1,
                                                  int64_t n0, int64_t n1, float* w, const Columns& columns) {
  const int64_t ld = n1 - n0;
  for (int64_t k = k0; k < k1; ++k) {
    const math::FieldPosition at_k = math::field_position(k, bits);
    const uint32_t* lo = words + at_k.row * n_out + n0;
    // A tile (not whole rows) reads a short run of each packed row, n_out words apart (sdk/prefetch.h): ask for
    // the run of the row kPrefetchInputs inputs ahead when a new row starts.
    if (at_k.shift == 0 && ld < n_out && k + kPrefetchInputs < k1)
      sdk::prefetch_bytes(words + math::field_position(k + kPrefetchInputs, bits).row * n_out + n0,
                          ld * int64_t{sizeof(uint32_t)});
    const int64_t group = int64_t{g[k]} * n_out + n0;
    const uint32_t* hi = math::straddles(at_k.shift, bits) ? lo + n_out : nullptr;  // 3 bits: the next word
    columns(lo, hi, z + group, s + group, at_k.shift, w + (k - k0) * ld);
  }
}

#ifdef OFT_SDK_X86_ROUNDING
// A row of columns eight at a time, each value rounded to kRoundTo in registers (x86 with AVX2 and F16C); fields
// that straddle two words, and the last columns, the portable way.
template <c10::ScalarType kRoundTo>
struct ColumnsIn8Lanes {
  int bits;
  int64_t count;
  __attribute__((target("avx2,f16c"))) void operator()(const uint32_t* lo, const uint32_t* hi, const float* zg,
                                                       const float* sg, uint32_t shift, float* wk) const {
    int64_t n = 0;
    if (hi == nullptr) {
      const __m128i by = _mm_cvtsi32_si128(static_cast<int>(shift));
      const __m256i mask = _mm256_set1_epi32(static_cast<int>(math::code_mask(bits)));
      for (; n + 8 <= count; n += 8) {
        const __m256i words = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + n));
        const __m256 codes = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srl_epi32(words, by), mask));
        const __m256 value = _mm256_mul_ps(_mm256_sub_ps(codes, _mm256_loadu_ps(zg + n)), _mm256_loadu_ps(sg + n));
        _mm256_storeu_ps(wk + n, sdk::rounded_to<kRoundTo>(value));
      }
      if (n == count) return;
    }
    dequantize_columns(lo + n, hi == nullptr ? nullptr : hi + n, zg + n, sg + n, shift, bits, count - n, wk + n);
    sdk::round_in_place(wk + n, count - n, kRoundTo);
  }
};

template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c"))) void dequantize_block_8_lanes(const uint32_t* words, const float* z,
                                                                   const float* s, const int32_t* g, int64_t n_out,
                                                                   int bits, int64_t k0, int64_t k1, int64_t n0,
                                                                   int64_t n1, float* w) {
  for_each_input(words, z, s, g, n_out, bits, k0, k1, n0, n1, w, ColumnsIn8Lanes<kRoundTo>{bits, n1 - n0});
}
#endif

// Columns [n0, n1) of W^T for inputs [k0, k1), rounded to `round_to` (the scales dtype), into w: row k at
// w + (k - k0) * (n1 - n0). (code - zero) * scale is exact in fp32 for fp16/bf16 scales, so one rounding to their
// dtype gives the library's value.
void dequantize_block(const uint32_t* words, const float* z, const float* s, const int32_t* g, int64_t n_out, int bits,
                      int64_t k0, int64_t k1, int64_t n0, int64_t n1, c10::ScalarType round_to, sdk::RoundingPath path,
                      float* w) {
#ifdef OFT_SDK_X86_ROUNDING
  if (sdk::run_in_8_lanes(round_to, path, [&](auto dtype) {
        dequantize_block_8_lanes<decltype(dtype)::value>(words, z, s, g, n_out, bits, k0, k1, n0, n1, w);
      }))
    return;
#endif
  const int64_t ld = n1 - n0;
  for_each_input(words, z, s, g, n_out, bits, k0, k1, n0, n1, w,
                 [&](const uint32_t* lo, const uint32_t* hi, const float* zg, const float* sg, uint32_t shift,
                     float* wk) { dequantize_columns(lo, hi, zg, sg, shift, bits, ld, wk); });
  sdk::round_in_place(w, (k1 - k0) * ld, round_to);
}

}  // namespace

void check_group_indices(const at::Tensor& g_idx, int64_t groups) {
  if (g_idx.numel() == 0) return;
  const auto [low, high] = at::aminmax(g_idx);
  const at::Tensor range = at::stack({low, high}).cpu();  // one read-back for both
  if (range[0].item<int64_t>() < 0 || range[1].item<int64_t>() >= groups)
    throw std::invalid_argument("gptq: tensor \"g_idx\" has group indices outside [0, " + std::to_string(groups) + ")");
}

at::Tensor dequantize_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                          const at::Tensor& g_idx, int bits, c10::ScalarType round_to, sdk::RoundingPath path) {
  at::Tensor q = qweight.contiguous(), z = zeros.contiguous(), s = scales.contiguous(), gi = g_idx.contiguous();
  // g_idx indexes rows of zeros/scales below: a value changed in place since loading must not read outside.
  check_group_indices(gi, z.size(0));
  const int64_t in = gi.size(0), n_out = q.size(1);
  at::Tensor out = sdk::weight_buffer({in, n_out}, at::kFloat);
  const uint32_t* words = reinterpret_cast<const uint32_t*>(q.data_ptr<int32_t>());
  float* w = out.data_ptr<float>();
  at::parallel_for(0, in, 16, [&](int64_t begin, int64_t end) {
    dequantize_block(words, z.data_ptr<float>(), s.data_ptr<float>(), gi.data_ptr<int32_t>(), n_out, bits, begin, end,
                     0, n_out, round_to, path, w + begin * n_out);
  });
  return out;
}

void dequantize_cpu_columns(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                            const at::Tensor& g_idx, int bits, c10::ScalarType round_to, int64_t first,
                            const at::Tensor& tile, sdk::RoundingPath path) {
  for (const at::Tensor* t : {&qweight, &zeros, &scales, &g_idx, &tile})
    if (!t->device().is_cpu() || !t->is_contiguous())
      throw std::invalid_argument("gptq: column dequantization takes contiguous CPU tensors");
  const int64_t n_out = qweight.size(1);
  dequantize_block(reinterpret_cast<const uint32_t*>(qweight.data_ptr<int32_t>()), zeros.data_ptr<float>(),
                   scales.data_ptr<float>(), g_idx.data_ptr<int32_t>(), n_out, bits, 0, g_idx.size(0), first,
                   first + tile.size(1), round_to, path, tile.data_ptr<float>());
}

}  // namespace oft::gptq
