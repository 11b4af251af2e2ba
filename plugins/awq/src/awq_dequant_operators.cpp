#include "awq_dequant_operators.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "awq_packing.h"

namespace oft::awq {
namespace {

// Where column n's field lies: word[n] and its lowest bit shift[n] there (int64, on the packed tensor's device).
struct FieldPositions {
  at::Tensor word, shift;
};

FieldPositions field_positions(int bits, int64_t columns, Layout layout, const at::TensorOptions& options) {
  const at::Tensor n = at::arange(columns, options.dtype(at::kLong));
  if (layout == Layout::Gemv) return {n.div(8, "floor"), n.remainder(8).mul(4)};  // sequential nibbles
  // 4-bit gemm: column j of a word is nibble {0, 4, 1, 5, 2, 6, 3, 7}[j] (AWQ's interleave).
  if (bits == 4) return {n.div(8, "floor"), n.remainder(2).mul(16).add(n.remainder(8).div(2, "floor").mul(4))};
  const at::Tensor bit = n.mul(bits);  // the little-endian bit stream of 2, 3 and 8 bits
  return {bit.div(32, "floor"), bit.remainder(32)};
}

// (1 << count) - 1 elementwise, as int32.
at::Tensor low_bits_mask(const at::Tensor& count) {
  return at::ones_like(count).bitwise_left_shift(count).sub(1).to(at::kInt);
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
  const FieldPositions at_field = field_positions(bits, columns, layout, packed.options());
  // int32 words shift arithmetically: the mask keeps only the bits below the sign extension.
  const at::Tensor low_count = at_field.shift.neg().add(32).clamp_max(bits);  // the field's bits in its own word
  // Each column's word, by gather (index_select has no meta kernel, and the device seam's test runs this on meta).
  const auto words_of = [&](const at::Tensor& word) {
    return packed.gather(1, word.expand({packed.size(0), columns}));
  };
  at::Tensor codes =
      words_of(at_field.word).bitwise_right_shift(at_field.shift.to(at::kInt)).bitwise_and_(low_bits_mask(low_count));
  if (32 % bits == 0) return codes;
  // 3 bits: a field that straddles two words takes its high bits from the next word's lowest ones (a zero mask for
  // the others, whose next word may not exist: the clamp keeps the index valid).
  const at::Tensor next = at_field.word.add(1).clamp_max(words - 1);
  const at::Tensor high_mask = low_bits_mask(at::full_like(low_count, bits)).bitwise_xor(low_bits_mask(low_count));
  const at::Tensor high_shift = at_field.shift.neg().add(32).clamp_max(31).to(at::kInt);
  return codes.bitwise_or_(words_of(next).bitwise_left_shift(high_shift).bitwise_and_(high_mask));
}

at::Tensor dequantize_by_operators(const at::Tensor& qweight, const at::Tensor& qzeros, const at::Tensor& scales,
                                   const AwqConfig& config, int64_t in_features, int64_t out_features) {
  const int64_t group_size = config.effective_group_size(in_features), groups = in_features / group_size;
  const at::ScalarType round_to = scales.scalar_type();
  const at::Tensor s = scales.to(at::kFloat);
  if (config.layout == Layout::Gemm) {  // W^T (in, out): group g's rows share zeros[g] and scales[g]
    at::Tensor w = decode_codes_by_operators(qweight, config.bits, out_features, Layout::Gemm)
                       .to(at::kFloat)
                       .view({groups, group_size, out_features});
    const at::Tensor zeros = decode_codes_by_operators(qzeros, config.bits, out_features, Layout::Gemm).to(at::kFloat);
    w.sub_(zeros.unsqueeze(1)).mul_(s.unsqueeze(1));
    return w.view({in_features, out_features}).to(round_to).t();
  }
  // gemv: W (out, in), zeros and scales (out, groups) before their padding.
  at::Tensor w = decode_codes_by_operators(qweight, 4, in_features, Layout::Gemv)
                     .to(at::kFloat)
                     .view({out_features, groups, group_size});
  const at::Tensor zeros =
      decode_codes_by_operators(qzeros, 4, 8 * qzeros.size(1), Layout::Gemv).narrow(1, 0, groups).to(at::kFloat);
  w.sub_(zeros.unsqueeze(2)).mul_(s.narrow(1, 0, groups).unsqueeze(2));
  return w.view({out_features, in_features}).to(round_to);
}

}  // namespace oft::awq
