#include "gptq_packing.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

namespace oft::gptq {
namespace {

constexpr int64_t kWordMask = 0xFFFFFFFFLL;

void check_bits(int bits) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    throw std::invalid_argument("gptq: bits must be 2, 3, 4 or 8, got " + std::to_string(bits));
}

// int64 words in [0, 2^32) -> int32 with the same bits.
at::Tensor to_int32_words(const at::Tensor& words) {
  return at::where(words >= (int64_t{1} << 31), words - (int64_t{1} << 32), words).to(at::kInt);
}

// The repeating unit along the packed dimension: 32 values in `bits` words. Value j starts at bit
// offset bits*j of the unit, in word (bits*j)/32.
struct Field {
  int64_t word, shift;
  bool straddles;
};
Field field(int bits, int j) {
  int64_t offset = int64_t{bits} * j;
  return {offset / 32, offset % 32, offset % 32 + bits > 32};
}

// The packed words of a per-field constant (1 in every field), for the v1 word add/subtract.
int64_t ones_word(int bits) {
  int64_t word = 0;
  for (int j = 0; j < 32 / bits; ++j) word |= int64_t{1} << (bits * j);
  return word;
}

}  // namespace

at::Tensor pack_rows(const at::Tensor& codes, int bits) {
  check_bits(bits);
  if (codes.dim() != 2 || codes.size(0) % 32 != 0)
    throw std::invalid_argument("gptq: packing needs a 2-D tensor whose packed dimension is a multiple of 32, got " +
                                std::to_string(codes.dim()) + "-D with " + std::to_string(codes.size(0)) + " rows");
  const int64_t units = codes.size(0) / 32, cols = codes.size(1);
  at::Tensor values = codes.to(at::kLong);
  if (values.numel() > 0 &&
      (values.min().item<int64_t>() < 0 || values.max().item<int64_t>() > (int64_t{1} << bits) - 1))
    throw std::invalid_argument("gptq: values to pack must lie in [0, " + std::to_string((1 << bits) - 1) + "]");
  values = values.reshape({units, 32, cols});
  at::Tensor words = at::zeros({units, bits, cols}, values.options());
  for (int j = 0; j < 32; ++j) {
    Field f = field(bits, j);
    at::Tensor v = values.select(1, j);
    words.select(1, f.word).bitwise_or_(v.bitwise_left_shift(f.shift).bitwise_and(kWordMask));
    if (f.straddles) words.select(1, f.word + 1).bitwise_or_(v.bitwise_right_shift(32 - f.shift));
  }
  return to_int32_words(words.reshape({units * bits, cols}));
}

at::Tensor unpack_rows(const at::Tensor& packed, int bits) {
  check_bits(bits);
  if (packed.dim() != 2 || packed.scalar_type() != at::kInt || packed.size(0) % bits != 0)
    throw std::invalid_argument("gptq: unpacking needs a 2-D int32 tensor whose packed dimension is a multiple of " +
                                std::to_string(bits) + " words");
  const int64_t mask = (int64_t{1} << bits) - 1, cols = packed.size(1);
  if (32 % bits == 0) {
    // No value straddles a word: one broadcast shift over all fields (the mask drops the sign bits
    // an arithmetic shift brings in).
    const int64_t per_word = 32 / bits;
    at::Tensor shifts = at::arange(0, 32, bits, packed.options()).view({1, per_word, 1});
    return packed.unsqueeze(1).bitwise_right_shift(shifts).bitwise_and_(mask).to(at::kByte).reshape({-1, cols});
  }
  const int64_t units = packed.size(0) / bits;
  at::Tensor words = packed.to(at::kLong).bitwise_and(kWordMask).reshape({units, bits, cols});
  at::Tensor values = at::empty({units, 32, cols}, words.options().dtype(at::kByte));
  for (int j = 0; j < 32; ++j) {
    Field f = field(bits, j);
    at::Tensor v = words.select(1, f.word).bitwise_right_shift(f.shift);
    if (f.straddles) v = v.bitwise_or(words.select(1, f.word + 1).bitwise_left_shift(32 - f.shift));
    values.select(1, j).copy_(v.bitwise_and(mask));
  }
  return values.view({units * 32, cols});
}

at::Tensor pack_cols(const at::Tensor& codes, int bits) { return pack_rows(codes.t(), bits).t().contiguous(); }
at::Tensor unpack_cols(const at::Tensor& packed, int bits) { return unpack_rows(packed.t(), bits).t().contiguous(); }

at::Tensor decode_zeros(const at::Tensor& qzeros, int bits, CheckpointFormat format) {
  if (format == CheckpointFormat::V2) return unpack_cols(qzeros, bits);
  if (bits == 3) return at::remainder(unpack_cols(qzeros, bits) + 1, 8);
  at::Tensor words = (qzeros.to(at::kLong) + ones_word(bits)).bitwise_and(kWordMask);
  return unpack_cols(to_int32_words(words), bits);
}

at::Tensor encode_zeros(const at::Tensor& zeros, int bits, CheckpointFormat format) {
  if (format == CheckpointFormat::V2) return pack_cols(zeros, bits);
  if (bits == 3) return pack_cols(at::remainder(zeros.to(at::kLong) - 1, 8), bits);
  at::Tensor words = (pack_cols(zeros, bits).to(at::kLong) - ones_word(bits)).bitwise_and(kWordMask);
  return to_int32_words(words);
}

}  // namespace oft::gptq
