#include "awq_dequant_operators.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "awq_packing.h"

namespace oft::awq {
namespace {

// Where column n's field lies: word[n] and its lowest bit shift[n] there (int64, on the packed tensor's device).
// Only for fields that may straddle two words (3 bits, the bit stream); the others take whole_word_fields.
struct FieldPositions {
  at::Tensor word, shift;
};

FieldPositions bit_stream_positions(int bits, int64_t columns, const at::TensorOptions& options) {
  const at::Tensor bit = at::arange(columns, options.dtype(at::kLong)).mul(bits);
  return {bit.div(32, "floor"), bit.remainder(32)};
}

// (1 << count) - 1 elementwise, as int32.
at::Tensor low_bits_mask(const at::Tensor& count) {
  return at::ones_like(count).bitwise_left_shift(count).sub(1).to(at::kInt);
}

// 2, 4 and 8 bits: every word holds 32 / bits whole fields at the same shifts, so one shift of the words broadcast
// against those shifts and one mask decode all of them (two passes over the codes), in column order.
at::Tensor whole_word_fields(const at::Tensor& packed, int bits, int64_t columns, Layout layout) {
  const at::Tensor field = at::arange(32 / bits, packed.options());
  // 4-bit gemm: field j of a word is nibble {0, 4, 1, 5, 2, 6, 3, 7}[j] (AWQ's interleave); otherwise in order.
  const at::Tensor shift = layout == Layout::Gemm && bits == 4
                               ? field.remainder(2).mul(16).add(field.div(2, "floor").mul(4))
                               : field.mul(bits);
  // int32 words shift arithmetically: the mask keeps only the field's bits, not the sign extension.
  return packed.unsqueeze(-1)
      .bitwise_right_shift(shift)
      .bitwise_and_((1 << bits) - 1)
      .view({packed.size(0), -1})
      .narrow(1, 0, columns);
}

// 3 bits: a field's word and shift by gather, and a field that straddles two words takes its high bits from the
// next word's lowest ones.
at::Tensor straddling_fields(const at::Tensor& packed, int bits, int64_t columns, int64_t words) {
  const FieldPositions at_field = bit_stream_positions(bits, columns, packed.options());
  const at::Tensor low_count = at_field.shift.neg().add(32).clamp_max(bits);  // the field's bits in its own word
  // Each column's word, by gather (index_select has no meta kernel, and the device seam's test runs this on meta).
  const auto words_of = [&](const at::Tensor& word) {
    return packed.gather(1, word.expand({packed.size(0), columns}));
  };
  at::Tensor codes =
      words_of(at_field.word).bitwise_right_shift(at_field.shift.to(at::kInt)).bitwise_and_(low_bits_mask(low_count));
  // A zero mask for the fields that do not straddle, whose next word may not exist: the clamp keeps the index valid.
  const at::Tensor next = at_field.word.add(1).clamp_max(words - 1);
  const at::Tensor high_mask = low_bits_mask(at::full_like(low_count, bits)).bitwise_xor(low_bits_mask(low_count));
  const at::Tensor high_shift = at_field.shift.neg().add(32).clamp_max(31).to(at::kInt);
  return codes.bitwise_or_(words_of(next).bitwise_left_shift(high_shift).bitwise_and_(high_mask));
}

}  // namespace

at::Tensor decode_codes_by_operators(const at::Tensor& packed, int bits, int64_t columns, Layout layout) {
  if (packed.dim() != 2 || packed.scalar_type() != at::kInt)
    throw std::invalid_argument("awq: decoding needs a 2-D int32 tensor of packed words");
  const int64_t words = layout == Layout::Gemv ? (columns + 7) / 8 : gemm_words(columns, bits);
  if ((layout == Layout::Gemv && bits != 4) || packed.size(1) != words)
    throw std::invalid_argument("awq: decoding " + std::to_string(columns) + " columns of " + std::to_string(bits) +
                                " bits needs " + std::to_string(words) + " words per row, got " +
                                std::to_string(packed.size(1)));
  return 32 % bits == 0 ? whole_word_fields(packed, bits, columns, layout)
                        : straddling_fields(packed, bits, columns, words);
}

at::Tensor dequantize_by_operators(const at::Tensor& qweight, const at::Tensor& qzeros, const at::Tensor& scales,
                                   const AwqConfig& config, int64_t in_features, int64_t out_features) {
  const int64_t group_size = config.effective_group_size(in_features), groups = in_features / group_size;
  // code - zero in int32 (exact), then one product in the scales dtype: LibTorch multiplies 16-bit floats in fp32
  // and rounds once, and the int32 difference converts exactly (|code - zero| < 256). Two passes over W.
  if (config.layout == Layout::Gemm) {  // W^T (in, out): group g's rows share zeros[g] and scales[g]
    const at::Tensor codes =
        decode_codes_by_operators(qweight, config.bits, out_features, Layout::Gemm).view({groups, group_size, -1});
    const at::Tensor zeros = decode_codes_by_operators(qzeros, config.bits, out_features, Layout::Gemm);
    return codes.sub(zeros.unsqueeze(1)).mul(scales.unsqueeze(1)).view({in_features, out_features}).t();
  }
  // gemv: W (out, in), zeros and scales (out, groups) before their padding.
  const at::Tensor codes =
      decode_codes_by_operators(qweight, 4, in_features, Layout::Gemv).view({out_features, groups, group_size});
  const at::Tensor zeros = decode_codes_by_operators(qzeros, 4, 8 * qzeros.size(1), Layout::Gemv).narrow(1, 0, groups);
  return codes.sub(zeros.unsqueeze(2)).mul(scales.narrow(1, 0, groups).unsqueeze(2)).view({out_features, in_features});
}

}  // namespace oft::awq
