#include "aqlm_dequant_rows.h"

#include <stdexcept>
#include <string>

#include "aqlm_dequant_math.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/simd4.h"

namespace oft::aqlm {
namespace {

using sdk::simd4::Floats;
using sdk::simd4::load;
using sdk::simd4::store;
using sdk::simd4::Words;

// values[e] *= scale for e in [0, count), four lanes at a time (GCC vectorizes no loop of unknown trip count at
// -O2), then the last few.
void scale_in_place(float* values, int64_t count, float scale) {
  int64_t e = 0;
  for (; e + 4 <= count; e += 4) store(values + e, load(values + e) * scale);
  for (; e < count; ++e) values[e] *= scale;
}

// round_like_embedding_bag on raw floats: bf16 by adding half an ulp to the bit pattern and dropping the low 16
// bits (ties away from zero, as aqlm's CPU embedding_bag does); fp16 to nearest even; fp32 unchanged.
void round_sums_like_embedding_bag(float* values, int64_t count, c10::ScalarType dtype) {
  if (dtype != c10::kBFloat16) {
    sdk::round_in_place(values, count, dtype);
    return;
  }
  int64_t e = 0;
  for (; e + 4 <= count; e += 4) {
    const Words bits = sdk::simd4::bits_of(load(values + e));
    store(values + e, sdk::simd4::floats_of(math::bf16_rounded_bits(bits)));
  }
  for (; e < count; ++e) values[e] = math::round_sum_to_bf16(values[e]);
}

// One row's codeword sum for one input group: kChunks · 4 values (input groups of 4, 8, ...), four lanes at a time;
// 0 + the first codeword, as the reference's zeros plus lookups (a -0 codeword value sums to +0).
template <int64_t kChunks, typename Code>
void sum_codewords_in_4_lanes(const CodebookWeights& w, const Code* codes, int64_t entry, int64_t row_offset,
                              float* dst) {
  Floats sum[kChunks];
  for (int64_t q = 0; q < kChunks; ++q) sum[q] = Floats{};
  for (int64_t c = 0; c < w.codebook_count; ++c) {
    const float* word =
        w.codebooks + math::codeword_index(c, math::code_of(codes[c], w.code_mask), w.book_size, entry, row_offset);
    for (int64_t q = 0; q < kChunks; ++q) sum[q] += load(word + 4 * q);
  }
  for (int64_t q = 0; q < kChunks; ++q) store(dst + 4 * q, sum[q]);
}

// The same for input groups of any size, one value at a time.
template <typename Code>
void sum_codewords_in_one_lane(const CodebookWeights& w, const Code* codes, int64_t entry, int64_t row_offset,
                               float* dst) {
  for (int64_t i = 0; i < w.in_group; ++i) dst[i] = 0.f;
  for (int64_t c = 0; c < w.codebook_count; ++c) {
    const float* word =
        w.codebooks + math::codeword_index(c, math::code_of(codes[c], w.code_mask), w.book_size, entry, row_offset);
    for (int64_t i = 0; i < w.in_group; ++i) dst[i] = math::add_codeword(dst[i], word[i]);
  }
}

// kChunks > 0: input groups of kChunks · 4 values (8, every released AQLM model's, is 2), summed four lanes at a
// time; 0: any size, one lane.
template <int64_t kChunks, typename Code>
void dequantize_groups(const CodebookWeights& w, const Code* codes, int64_t first_group, int64_t groups, float* out) {
  const int64_t ig = w.in_group, og = w.out_group, k = w.in_features;
  const int64_t in_groups = k / ig, entry = og * ig, c_count = w.codebook_count;
  for (int64_t o = first_group; o < first_group + groups; ++o) {
    const Code* group_codes = codes + o * in_groups * c_count;
    float* block = out + (o - first_group) * og * k;  // the output group's og rows
    for (int64_t g = 0; g < in_groups; ++g)
      for (int64_t j = 0; j < og; ++j) {
        if constexpr (kChunks > 0)
          sum_codewords_in_4_lanes<kChunks>(w, group_codes + g * c_count, entry, j * ig, block + j * k + g * ig);
        else
          sum_codewords_in_one_lane(w, group_codes + g * c_count, entry, j * ig, block + j * k + g * ig);
      }
    // The sum rounded once to the codebooks' dtype, times the scale (exact in fp32 for two dtype values), rounded.
    const int64_t count = og * k;
    round_sums_like_embedding_bag(block, count, w.dtype);
    scale_in_place(block, count, w.scales[o]);
    sdk::round_in_place(block, count, w.dtype);
  }
}

template <typename Code>
void dequantize_groups_of(const CodebookWeights& w, int64_t first_group, int64_t groups, float* out) {
  const auto* codes = static_cast<const Code*>(w.codes);
  if (w.in_group == 8)
    dequantize_groups<2>(w, codes, first_group, groups, out);
  else if (w.in_group == 4)
    dequantize_groups<1>(w, codes, first_group, groups, out);
  else
    dequantize_groups<0>(w, codes, first_group, groups, out);
}

}  // namespace

CodebookWeights codebook_weights(const at::Tensor& stored_codes, int64_t nbits, const at::Tensor& float_codebooks,
                                 const at::Tensor& float_scales, c10::ScalarType dtype) {
  const auto code_dtype = stored_codes.scalar_type();
  if (code_dtype != at::kChar && code_dtype != at::kShort)
    throw std::invalid_argument(std::string("aqlm: codes of dtype ") + c10::toString(code_dtype) +
                                ", expected int8 or int16");
  if (!stored_codes.device().is_cpu() || !float_codebooks.device().is_cpu() || !float_scales.device().is_cpu())
    throw std::invalid_argument("aqlm: the dequantization loops take CPU tensors (other devices take the operators)");
  if (!stored_codes.is_contiguous() || !float_codebooks.is_contiguous() || !float_scales.is_contiguous() ||
      float_codebooks.scalar_type() != at::kFloat || float_scales.scalar_type() != at::kFloat ||
      float_codebooks.dim() != 4 || stored_codes.dim() != 3 || float_scales.numel() != stored_codes.size(0))
    throw std::invalid_argument(
        "aqlm: the dequantization loops take contiguous codes [N/og, K/ig, C], float32 codebooks "
        "[C, 2^nbits, og, ig] and N/og float32 scales");
  const int64_t og = float_codebooks.size(2), ig = float_codebooks.size(3);
  return {.codes = stored_codes.const_data_ptr(),
          .wide_codes = code_dtype == at::kShort,
          .code_mask = math::code_mask(nbits),
          .codebooks = float_codebooks.const_data_ptr<float>(),
          .scales = float_scales.const_data_ptr<float>(),
          .dtype = dtype,
          .codebook_count = float_codebooks.size(0),
          .book_size = float_codebooks.size(1) * og * ig,
          .out_group = og,
          .in_group = ig,
          .in_features = stored_codes.size(1) * ig};
}

void dequantize_groups_into(const CodebookWeights& w, int64_t first_group, int64_t groups, float* out) {
  if (w.wide_codes)
    dequantize_groups_of<uint16_t>(w, first_group, groups, out);
  else
    dequantize_groups_of<uint8_t>(w, first_group, groups, out);
}

}  // namespace oft::aqlm
