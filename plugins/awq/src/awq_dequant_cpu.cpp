#include "awq_dequant_cpu.h"

#include <algorithm>
#include <initializer_list>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "awq_dequant_math.h"
#include "oft/sdk/prefetch.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/simd4.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::awq {
namespace {

constexpr int64_t kRowsPerTask = 16;
using sdk::simd4::Floats;
using sdk::simd4::Ints;
using sdk::simd4::load;
using sdk::simd4::store;

// The four nibbles of the low 16 bits of `bits` as floats, nibble i in lane i. Each nibble is masked in place and
// scaled down by its power of two (exact), so the four lanes share every operation.
Floats nibbles4(uint32_t bits) {
  const Ints masks = {0xF, 0xF0, 0xF00, 0xF000};
  const Floats unshift = {1.f, 1.f / 16, 1.f / 256, 1.f / 4096};
  const Ints broadcast = Ints{} + static_cast<int32_t>(bits & 0xFFFFu);
  return __builtin_convertvector(broadcast & masks, Floats) * unshift;
}

// The 8 codes of a 4-bit gemm word as floats, columns 0-3 in `first` and 4-7 in `second`. Column j is nibble
// REV[j] = {0, 4, 1, 5, 2, 6, 3, 7}[j]: nibbles 0-3 hold the even columns and nibbles 4-7 the odd ones.
void decode_gemm_word4(uint32_t word, Floats& first, Floats& second) {
  const Floats even = nibbles4(word), odd = nibbles4(word >> 16);
  first = __builtin_shufflevector(even, odd, 0, 4, 1, 5);
  second = __builtin_shufflevector(even, odd, 2, 6, 3, 7);
}

// How many rows ahead tiles prefetch (bench_awq, 4-bit, 1 token: 4 rows ahead 7.0-7.4 ms, 16 6.0-6.6, 64 6.1-6.7).
constexpr int64_t kPrefetchRows = 16;

// Columns [n0, n1) of W^T for inputs [k0, k1) (gemm layout), unrounded fp32, into w: row k at w + (k - k0) * ld.
// At 4 bits n0 and n1 are multiples of 8 (or n1 = n_out): whole words.
void gemm_block(const uint32_t* packed, const float* zp, const float* sp, int bits, int64_t group_size, int64_t words,
                int64_t n_out, int64_t k0, int64_t k1, int64_t n0, int64_t n1, float* w, int64_t ld) {
  // The words holding columns [n0, n1) (3-bit fields may straddle two words).
  const int64_t first_word = n0 * bits / 32, end_word = math::gemm_words(n1, bits);
  const int64_t run_bytes = (end_word - first_word) * int64_t{sizeof(uint32_t)};
  for (int64_t k = k0; k < k1; ++k) {
    const uint32_t* row = packed + k * words;
    // A tile (not whole rows) reads a few words of each row, a row apart (sdk/prefetch.h): ask for a row ahead.
    if (n1 - n0 < n_out && k + kPrefetchRows < k1)
      sdk::prefetch_bytes(row + kPrefetchRows * words + first_word, run_bytes);
    const float* zg = zp + (k / group_size) * n_out;
    const float* sg = sp + (k / group_size) * n_out;
    float* wk = w + (k - k0) * ld;
    if (bits == 4) {  // the common case: word c holds columns 8c..8c+7 at fixed nibbles
      for (int64_t c = n0 / 8; c < (n1 + 7) / 8; ++c) {
        Floats codes[2];
        decode_gemm_word4(row[c], codes[0], codes[1]);
        for (int half = 0; half < 2; ++half) {
          const int64_t n = 8 * c + 4 * half;
          store(wk + n - n0, (codes[half] - load(zg + n)) * load(sg + n));
        }
      }
    } else {  // 2, 3 and 8 bits: column n's field starts at bit bits * n of the row's bit stream
      for (int64_t n = n0; n < n1; ++n)
        wk[n - n0] = math::dequantize_value(math::code_at(row, math::bit_stream_field(n, bits), bits), zg[n], sg[n]);
    }
  }
}

#ifdef OFT_SDK_X86_ROUNDING
// gemm_block at 4 bits, eight columns (one word) at a time with the rounding to kRoundTo in registers (x86 with AVX2
// and F16C). Column j of a word is nibble {0, 4, 1, 5, 2, 6, 3, 7}[j] (AWQ's interleave): one variable shift each.
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c"))) void gemm_block4_8_lanes(const uint32_t* packed, const float* zp, const float* sp,
                                                              int64_t group_size, int64_t words, int64_t n_out,
                                                              int64_t k0, int64_t k1, int64_t n0, int64_t n1, float* w,
                                                              int64_t ld) {
  const __m256i shifts = _mm256_setr_epi32(0, 16, 4, 20, 8, 24, 12, 28);
  const __m256i nibble = _mm256_set1_epi32(0xF);
  const int64_t first_word = n0 / 8, end_word = (n1 + 7) / 8;
  for (int64_t k = k0; k < k1; ++k) {
    const uint32_t* row = packed + k * words;
    // As in gemm_block: a tile reads a few words of each row, a row apart; ask for a row ahead.
    if (n1 - n0 < n_out && k + kPrefetchRows < k1)
      sdk::prefetch_bytes(row + kPrefetchRows * words + first_word, (end_word - first_word) * 4);
    const float* zg = zp + (k / group_size) * n_out;
    const float* sg = sp + (k / group_size) * n_out;
    float* wk = w + (k - k0) * ld - n0;
    for (int64_t c = first_word; c < end_word; ++c) {
      const __m256i word = _mm256_set1_epi32(static_cast<int>(row[c]));
      const __m256 codes = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(word, shifts), nibble));
      const __m256 value =
          _mm256_mul_ps(_mm256_sub_ps(codes, _mm256_loadu_ps(zg + 8 * c)), _mm256_loadu_ps(sg + 8 * c));
      _mm256_storeu_ps(wk + 8 * c, sdk::rounded_to<kRoundTo>(value));
    }
  }
}
#endif

// gemm_block with each value rounded to `round_to` (the scales dtype): (code - zero) * scale is exact in fp32 for
// fp16/bf16 scales, so one rounding gives the library's value. In one pass where the CPU allows (4 bits), else
// computed, then rounded row by row while the rows are in cache.
void gemm_block_rounded(const uint32_t* packed, const float* zp, const float* sp, int bits, int64_t group_size,
                        int64_t words, int64_t n_out, int64_t k0, int64_t k1, int64_t n0, int64_t n1, float* w,
                        int64_t ld, c10::ScalarType round_to, sdk::RoundingPath path) {
#ifdef OFT_SDK_X86_ROUNDING
  if (bits == 4 && sdk::run_in_8_lanes(round_to, path, [&](auto dtype) {
        gemm_block4_8_lanes<decltype(dtype)::value>(packed, zp, sp, group_size, words, n_out, k0, k1, n0, n1, w, ld);
      }))
    return;
#endif
  gemm_block(packed, zp, sp, bits, group_size, words, n_out, k0, k1, n0, n1, w, ld);
  for (int64_t k = k0; k < k1; ++k) sdk::round_in_place(w + (k - k0) * ld, n1 - n0, round_to);
}

// Rows [n0, n1) of W (gemv layout, 4 bits), unrounded fp32, into w: row n at w + (n - n0) * in. Nibble i of word
// c is input 8c + i; where groups hold whole words (a group size that is a multiple of 8) a word shares one zero and
// scale and is decoded four lanes at a time.
void gemv_block(const uint32_t* packed, const float* zp, const float* sp, int64_t group_size, int64_t words,
                int64_t groups, int64_t n0, int64_t n1, float* w) {
  const int64_t in = 8 * words;
  for (int64_t n = n0; n < n1; ++n) {
    const uint32_t* row = packed + n * words;
    float* wn = w + (n - n0) * in;
    if (group_size % 8 == 0) {
      for (int64_t c = 0; c < words; ++c) {
        const int64_t g = n * groups + 8 * c / group_size;
        const Floats zero = Floats{} + zp[g], scale = Floats{} + sp[g];
        store(wn + 8 * c, (nibbles4(row[c]) - zero) * scale);
        store(wn + 8 * c + 4, (nibbles4(row[c] >> 16) - zero) * scale);
      }
      continue;
    }
    for (int64_t k = 0; k < in; ++k) {
      const int64_t g = n * groups + k / group_size;
      wn[k] = math::dequantize_value(math::code_at(row, math::sequential4_field(k), 4), zp[g], sp[g]);
    }
  }
}

#ifdef OFT_SDK_X86_ROUNDING
// gemv_block for group sizes that are multiples of 8, a word (eight inputs, one zero and scale) at a time with the
// rounding to kRoundTo in registers (x86 with AVX2 and F16C). Nibble i of a word is input 8c + i: one variable
// shift each.
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c"))) void gemv_block4_8_lanes(const uint32_t* packed, const float* zp, const float* sp,
                                                              int64_t group_size, int64_t words, int64_t groups,
                                                              int64_t n0, int64_t n1, float* w) {
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i nibble = _mm256_set1_epi32(0xF);
  const int64_t words_per_group = group_size / 8;
  for (int64_t n = n0; n < n1; ++n) {
    const uint32_t* row = packed + n * words;
    float* wn = w + (n - n0) * 8 * words;
    for (int64_t c = 0; c < words; ++c) {
      const int64_t g = n * groups + c / words_per_group;
      const __m256i word = _mm256_set1_epi32(static_cast<int>(row[c]));
      const __m256 codes = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(word, shifts), nibble));
      const __m256 value = _mm256_mul_ps(_mm256_sub_ps(codes, _mm256_set1_ps(zp[g])), _mm256_set1_ps(sp[g]));
      _mm256_storeu_ps(wn + 8 * c, sdk::rounded_to<kRoundTo>(value));
    }
  }
}
#endif

// gemv_block with each value rounded to `round_to`, as gemm_block_rounded: in one pass where the CPU allows (group
// sizes that are multiples of 8), else computed, then rounded.
void gemv_block_rounded(const uint32_t* packed, const float* zp, const float* sp, int64_t group_size, int64_t words,
                        int64_t groups, int64_t n0, int64_t n1, float* w, c10::ScalarType round_to,
                        sdk::RoundingPath path) {
#ifdef OFT_SDK_X86_ROUNDING
  if (group_size % 8 == 0 && sdk::run_in_8_lanes(round_to, path, [&](auto dtype) {
        gemv_block4_8_lanes<decltype(dtype)::value>(packed, zp, sp, group_size, words, groups, n0, n1, w);
      }))
    return;
#endif
  gemv_block(packed, zp, sp, group_size, words, groups, n0, n1, w);
  sdk::round_in_place(w, (n1 - n0) * 8 * words, round_to, path);
}

const uint32_t* words_of(const at::Tensor& qweight) {
  return reinterpret_cast<const uint32_t*>(qweight.data_ptr<int32_t>());
}

void expect_contiguous_cpu(std::initializer_list<const at::Tensor*> tensors) {
  for (const at::Tensor* t : tensors)
    if (!t->device().is_cpu() || !t->is_contiguous())
      throw std::invalid_argument("awq: tile dequantization takes contiguous CPU tensors");
}

}  // namespace

at::Tensor decode_gemm_cpu(const at::Tensor& packed, int bits, int64_t columns) {
  const at::Tensor q = packed.contiguous();
  const int64_t rows = q.size(0);
  // The codes are the dequantization with zero point 0 and scale 1, for every row in one group.
  const std::vector<float> zero(static_cast<size_t>(columns), 0.f), one(static_cast<size_t>(columns), 1.f);
  at::Tensor out = at::empty({rows, columns}, at::kFloat);
  gemm_block(words_of(q), zero.data(), one.data(), bits, std::max<int64_t>(rows, 1), q.size(1), columns, 0, rows, 0,
             columns, out.data_ptr<float>(), columns);
  return out;
}

at::Tensor decode_sequential4_cpu(const at::Tensor& packed) {
  const at::Tensor q = packed.contiguous();
  const int64_t rows = q.size(0), words = q.size(1);
  const std::vector<float> zero(static_cast<size_t>(rows), 0.f), one(static_cast<size_t>(rows), 1.f);
  at::Tensor out = at::empty({rows, 8 * words}, at::kFloat);
  gemv_block(words_of(q), zero.data(), one.data(), std::max<int64_t>(8 * words, 1), words, 1, 0, rows,
             out.data_ptr<float>());
  return out;
}

at::Tensor dequantize_gemm_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales, int bits,
                               int64_t group_size, c10::ScalarType round_to, sdk::RoundingPath path) {
  const at::Tensor q = qweight.contiguous(), z = zeros.contiguous(), s = scales.contiguous();
  const int64_t in = q.size(0), words = q.size(1), n_out = s.size(1);
  at::Tensor out = sdk::weight_buffer({in, n_out}, s.scalar_type());
  float* w = out.data_ptr<float>();
  at::parallel_for(0, in, kRowsPerTask, [&](int64_t begin, int64_t end) {
    gemm_block_rounded(words_of(q), z.data_ptr<float>(), s.data_ptr<float>(), bits, group_size, words, n_out, begin,
                       end, 0, n_out, w + begin * n_out, n_out, round_to, path);
  });
  return out;
}

void dequantize_gemm_cpu_columns(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales, int bits,
                                 int64_t group_size, c10::ScalarType round_to, int64_t first, const at::Tensor& tile,
                                 sdk::RoundingPath path) {
  expect_contiguous_cpu({&qweight, &zeros, &scales, &tile});
  const int64_t in = qweight.size(0), count = tile.size(1);
  gemm_block_rounded(words_of(qweight), zeros.data_ptr<float>(), scales.data_ptr<float>(), bits, group_size,
                     qweight.size(1), scales.size(1), 0, in, first, first + count, tile.data_ptr<float>(), count,
                     round_to, path);
}

at::Tensor dequantize_gemv_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                               int64_t group_size, c10::ScalarType round_to, sdk::RoundingPath path) {
  const at::Tensor q = qweight.contiguous(), z = zeros.contiguous(), s = scales.contiguous();
  const int64_t n_out = q.size(0), words = q.size(1), in = 8 * words, groups = z.size(1);
  at::Tensor out = sdk::weight_buffer({n_out, in}, s.scalar_type());
  float* w = out.data_ptr<float>();
  at::parallel_for(0, n_out, kRowsPerTask, [&](int64_t begin, int64_t end) {
    gemv_block_rounded(words_of(q), z.data_ptr<float>(), s.data_ptr<float>(), group_size, words, groups, begin, end,
                       w + begin * in, round_to, path);
  });
  return out;
}

void dequantize_gemv_cpu_rows(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                              int64_t group_size, c10::ScalarType round_to, int64_t first, const at::Tensor& tile,
                              sdk::RoundingPath path) {
  expect_contiguous_cpu({&qweight, &zeros, &scales, &tile});
  gemv_block_rounded(words_of(qweight), zeros.data_ptr<float>(), scales.data_ptr<float>(), group_size, qweight.size(1),
                     zeros.size(1), first, first + tile.size(0), tile.data_ptr<float>(), round_to, path);
}

}  // namespace oft::awq
