#include "awq_packing.h"

#include <array>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "awq_dequant_math.h"

namespace oft::awq {
namespace {

constexpr int64_t kWordMask = 0xFFFFFFFFLL;
constexpr std::array<int64_t, 8> kOrder = {0, 2, 4, 6, 1, 3, 5, 7};

void check_codes(const at::Tensor& codes, int bits) {
  if (codes.dim() != 2) throw std::invalid_argument("awq: codes to pack must be a 2-D tensor");
  if (codes.numel() > 0 && (codes.min().item<int64_t>() < 0 || codes.max().item<int64_t>() >= (int64_t{1} << bits)))
    throw std::invalid_argument("awq: values to pack must lie in [0, " + std::to_string((1 << bits) - 1) + "]");
}

// int64 holding unsigned 32-bit words -> int32 with the same bits.
at::Tensor to_int32_words(const at::Tensor& words) {
  return at::where(words >= (int64_t{1} << 31), words - (int64_t{1} << 32), words).to(at::kInt);
}

}  // namespace

int64_t gemm_words(int64_t columns, int bits) { return math::gemm_words(columns, bits); }

at::Tensor pack_gemm(const at::Tensor& codes, int bits) {
  check_codes(codes, bits);
  const int64_t rows = codes.size(0), columns = codes.size(1);
  at::Tensor values = codes.to(at::kLong);
  if (bits == 4) {
    if (columns % 8 != 0) throw std::invalid_argument("awq: 4-bit GEMM packing needs a multiple of 8 columns");
    at::Tensor order = at::tensor(std::vector<int64_t>(kOrder.begin(), kOrder.end()), values.options());
    at::Tensor grouped = values.view({rows, columns / 8, 8}).index_select(2, order);
    at::Tensor shifts = at::arange(0, 32, 4, values.options());
    return to_int32_words(grouped.bitwise_left_shift(shifts).sum(2));
  }
  const int64_t blocks = (columns + 31) / 32;
  at::Tensor padded = at::zeros({rows, blocks * 32}, values.options());
  padded.narrow(1, 0, columns).copy_(values);
  at::Tensor runs = padded.view({rows, blocks, 32});
  at::Tensor words = at::zeros({rows, blocks, bits}, values.options());
  for (int64_t j = 0; j < 32; ++j) {
    const int64_t bit = j * bits, word = bit / 32, shift = bit % 32;
    at::Tensor v = runs.select(2, j);
    words.select(2, word).bitwise_or_(v.bitwise_left_shift(shift).bitwise_and(kWordMask));
    if (shift + bits > 32) words.select(2, word + 1).bitwise_or_(v.bitwise_right_shift(32 - shift));
  }
  return to_int32_words(words.view({rows, blocks * bits}).narrow(1, 0, gemm_words(columns, bits))).contiguous();
}

at::Tensor unpack_gemm(const at::Tensor& packed, int bits, int64_t columns) {
  if (packed.dim() != 2 || packed.scalar_type() != at::kInt || packed.size(1) != gemm_words(columns, bits))
    throw std::invalid_argument("awq: unpacking needs a 2-D int32 tensor of " +
                                std::to_string(gemm_words(columns, bits)) + " words per row");
  const int64_t rows = packed.size(0), mask = (int64_t{1} << bits) - 1;
  at::Tensor words = packed.to(at::kLong).bitwise_and(kWordMask);
  if (bits == 4) {
    at::Tensor shifts = at::arange(0, 32, 4, words.options());
    at::Tensor nibbles = words.unsqueeze(2).bitwise_right_shift(shifts).bitwise_and_(mask);  // (rows, words, 8)
    at::Tensor reverse = at::argsort(at::tensor(std::vector<int64_t>(kOrder.begin(), kOrder.end()), words.options()));
    return nibbles.index_select(2, reverse).reshape({rows, columns}).to(at::kByte);
  }
  const int64_t blocks = (columns + 31) / 32;
  at::Tensor full = at::zeros({rows, blocks * bits}, words.options());
  full.narrow(1, 0, words.size(1)).copy_(words);
  at::Tensor runs = full.view({rows, blocks, bits});
  at::Tensor values = at::empty({rows, blocks, 32}, words.options());
  for (int64_t j = 0; j < 32; ++j) {
    const int64_t bit = j * bits, word = bit / 32, shift = bit % 32;
    at::Tensor v = runs.select(2, word).bitwise_right_shift(shift);
    if (shift + bits > 32) v = v.bitwise_or(runs.select(2, word + 1).bitwise_left_shift(32 - shift));
    values.select(2, j).copy_(v.bitwise_and(mask));
  }
  return values.view({rows, blocks * 32}).narrow(1, 0, columns).to(at::kByte).contiguous();
}

at::Tensor pack_sequential4(const at::Tensor& codes) {
  check_codes(codes, 4);
  if (codes.size(1) % 8 != 0) throw std::invalid_argument("awq: 4-bit GEMV packing needs a multiple of 8 columns");
  at::Tensor values = codes.to(at::kLong).view({codes.size(0), codes.size(1) / 8, 8});
  return to_int32_words(values.bitwise_left_shift(at::arange(0, 32, 4, values.options())).sum(2));
}

at::Tensor unpack_sequential4(const at::Tensor& packed) {
  if (packed.dim() != 2 || packed.scalar_type() != at::kInt)
    throw std::invalid_argument("awq: unpacking needs a 2-D int32 tensor");
  at::Tensor words = packed.to(at::kLong).bitwise_and(kWordMask);
  at::Tensor shifts = at::arange(0, 32, 4, words.options());
  return words.unsqueeze(2).bitwise_right_shift(shifts).bitwise_and_(15).reshape({packed.size(0), -1}).to(at::kByte);
}

int64_t gemv_zeros_width(int64_t in_features, int64_t group_size) {
  int64_t multiplier = 0;
  if (group_size >= 128)
    multiplier = 1;
  else if (group_size == 64)
    multiplier = 2;
  else if (group_size == 32)
    multiplier = 4;
  else if (group_size == 16)
    multiplier = 8;
  else
    throw std::invalid_argument("awq: the gemv format needs group_size 16, 32, 64, >= 128 or -1, got " +
                                std::to_string(group_size));
  const int64_t words = (in_features / group_size + 7) / 8;
  return (words + multiplier - 1) / multiplier * multiplier;
}

}  // namespace oft::awq
