#include "eetq_layout.h"

#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace oft::eetq {
namespace {

constexpr int64_t kTile = 64;
// (q + 128) mod 256 as an int8 bit pattern: the sign bit flipped (its own inverse).
constexpr int64_t kSignBit = -128;

}  // namespace

void check_layout_shape(int64_t in_features, int64_t out_features) {
  if (in_features <= 0 || in_features % kTile != 0 || out_features <= 0 || out_features % kTile != 0)
    throw std::invalid_argument(
        "eetq: in_features and out_features must be positive multiples of 64 (EETQ's arch-80 layout interleaves "
        "64-row tiles of column pairs), got " +
        std::to_string(in_features) + " and " + std::to_string(out_features));
}

at::Tensor arch80_byte_offsets(int64_t in_features, int64_t out_features) {
  check_layout_shape(in_features, out_features);
  const auto longs = at::TensorOptions().dtype(at::kLong);
  const at::Tensor k = at::arange(in_features, longs), n = at::arange(out_features, longs);
  // permute_B_rows_for_mixed_gemm moves input row k of each group of 16 to this row.
  const at::Tensor row_in_group =
      at::tensor(std::vector<int64_t>{0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15}, longs);
  const at::Tensor permuted = k.div(16, "floor") * 16 + row_in_group.index_select(0, k.remainder(16));
  const at::Tensor word = permuted.div(4, "floor"), byte = permuted.remainder(4);
  // add_bias_and_interleave_int8s swaps bytes 1 and 2 of each 32-bit word.
  const at::Tensor byte_in_word = at::tensor(std::vector<int64_t>{0, 2, 1, 3}, longs).index_select(0, byte);
  // Within a column pair's interleaved column: 64-row tiles (16 words), first column's tile first.
  const at::Tensor row_part = 4 * (32 * word.div(16, "floor") + word.remainder(16)) + byte_in_word;
  const at::Tensor column_part = 4 * (n.div(2, "floor") * (in_features / 2) + 16 * n.remainder(2));
  return row_part.unsqueeze(1) + column_part.unsqueeze(0);
}

// In a 64-row tile, row j = 16 g + 8 h + 2 m + c (g, m < 4; h, c < 2) is permuted to k' = 16 g + 4 m + 2 h + c and
// its byte then swapped to 16 g + 4 m + 2 c + h: the whole layout is an axis permutation of
//   codes  (tile, g, h, m, c, pair, column in pair)   and   stored  (pair, tile, column in pair, g, m, c, h).
at::Tensor to_arch80_layout(const at::Tensor& codes) {
  const int64_t k = codes.size(0), n = codes.size(1);
  check_layout_shape(k, n);
  const at::Tensor axes = codes.reshape({k / kTile, 4, 2, 4, 2, n / 2, 2});
  return axes.permute({5, 0, 6, 1, 3, 4, 2}).bitwise_xor(kSignBit).contiguous().view({k, n});
}

at::Tensor from_arch80_layout(const at::Tensor& stored) {
  const int64_t k = stored.size(0), n = stored.size(1);
  check_layout_shape(k, n);
  const at::Tensor axes = stored.reshape({n / 2, k / kTile, 2, 4, 4, 2, 2});
  return axes.permute({1, 3, 6, 4, 5, 0, 2}).bitwise_xor(kSignBit).contiguous().view({k, n});
}

}  // namespace oft::eetq
