#pragma once
// GPTQ bit packing into int32 words. Along the packed dimension the values form one little-endian
// bit stream: value i sits at bits [b*i, b*i + b) of the concatenated words, so 32 values fill
// exactly b words. For 2, 4 and 8 bits no value straddles a word; for 3 bits values 10 and 21 of
// each run of 32 do (GPTQModel's 10-1-10-1-10 layout is this stream).
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "gptq_config.h"

namespace oft::gptq {

// codes (rows, cols) integers in [0, 2^bits), rows a multiple of 32 -> int32 (rows*bits/32, cols).
at::Tensor pack_rows(const at::Tensor& codes, int bits);
// int32 (rows*bits/32, cols) -> uint8 codes (rows, cols).
at::Tensor unpack_rows(const at::Tensor& packed, int bits);

// qzeros pack along the output dimension: (groups, out) <-> int32 (groups, out*bits/32).
at::Tensor pack_cols(const at::Tensor& codes, int bits);
at::Tensor unpack_cols(const at::Tensor& packed, int bits);

// Stored qzeros -> integer zero points (groups, out), and back. v2 stores the zero point; v1 stores
// zero - 1, decoded as GPTQModel 7.x does: for 2/4/8 bits a whole-word add of 0x55555555 /
// 0x11111111 / 0x01010101 mod 2^32 (the exact inverse of its v2->v1 export, borrows included); for
// 3 bits +1 per field mod 8.
at::Tensor decode_zeros(const at::Tensor& qzeros, int bits, CheckpointFormat format);
at::Tensor encode_zeros(const at::Tensor& zeros, int bits, CheckpointFormat format);

}  // namespace oft::gptq
