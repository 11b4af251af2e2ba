#pragma once
// AWQ bit packing into int32 words (GPTQModel 7.7's packing_utils, which transformers loads through).
//
// GEMM packs along the OUTPUT dimension (the last one):
//   4 bits: word c holds columns 8c..8c+7, nibble i (bits 4i..4i+3) column 8c + ORDER[i],
//           ORDER = [0, 2, 4, 6, 1, 3, 5, 7] (AutoAWQ's interleave);
//   2, 3, 8 bits: one little-endian bit stream, value j at bits [b*j, b*j + b), padded to whole runs of
//           32 values and cut to ceil(columns*bits/32) words (3-bit values straddle words).
// GEMV (4 bits only) packs along the INPUT dimension, sequentially: nibble i of word c is input 8c+i.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace oft::awq {

// Packed words per row for `columns` values of `bits` bits.
int64_t gemm_words(int64_t columns, int bits);
// codes (rows, columns) integers in [0, 2^bits) -> int32 (rows, gemm_words(columns, bits)).
at::Tensor pack_gemm(const at::Tensor& codes, int bits);
// int32 (rows, gemm_words(columns, bits)) -> uint8 codes (rows, columns).
at::Tensor unpack_gemm(const at::Tensor& packed, int bits, int64_t columns);

// codes (rows, columns) 4-bit integers, columns a multiple of 8 -> int32 (rows, columns/8).
at::Tensor pack_sequential4(const at::Tensor& codes);
// int32 (rows, words) -> uint8 (rows, 8*words).
at::Tensor unpack_sequential4(const at::Tensor& packed);

// GEMV qzeros words per output row (GPTQModel's calculate_zeros_width): the groups in words of 8,
// rounded up to a multiple of 1 (group size >= 128), 2 (64), 4 (32) or 8 (16). scales has 8x as
// many columns; the padding is zero.
int64_t gemv_zeros_width(int64_t in_features, int64_t group_size);

}  // namespace oft::awq
