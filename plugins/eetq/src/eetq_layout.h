#pragma once
// EETQ's stored weight layout for int8 on SM 80-89 ("arch 80"; SM 75 has the same for int8), as
// preprocess_weights_for_mixed_gemm (EETQ csrc/cutlass_kernels/cutlass_preprocessors.cc) writes it from the
// plain codes q (in_features K rows, out_features N columns): rows permuted in groups of 16, transposed to
// column-major, 32-bit words of column pairs interleaved in 64-row tiles, +128 on every byte and bytes 1
// and 2 of every 4-byte group swapped. The tensor keeps the shape (K, N); only the byte order changes.
//
// Closed form (derived from EETQ's preprocessing loops): q[k, n] is stored at byte 4 * word + [0, 2, 1, 3][k' % 4] with
//   k' = 16 * (k / 16) + [0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15][k % 16],  r = k' / 4,
//   word = (n / 2) * (K / 2) + 32 * (r / 16) + 16 * (n % 2) + r % 16,
// as the byte (q + 128) mod 256, which as int8 is q with its sign bit flipped.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace oft::eetq {

// The layout needs whole 64-row tiles and column pairs (and EETQ's preprocessing checks N % 64): throws
// std::invalid_argument unless both are positive multiples of 64.
void check_layout_shape(int64_t in_features, int64_t out_features);

// int64 (K, N): the byte offset at which q[k, n] is stored (the closed form above, for checks).
at::Tensor arch80_byte_offsets(int64_t in_features, int64_t out_features);

// Plain int8 codes (K, N) -> the stored int8 bytes (K, N), and back: exact inverses of each other, each one
// pass over the bytes (an axis permutation, see the .cpp), with no index tensor.
at::Tensor to_arch80_layout(const at::Tensor& codes);
at::Tensor from_arch80_layout(const at::Tensor& stored);

}  // namespace oft::eetq
