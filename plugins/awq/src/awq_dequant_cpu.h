#pragma once
// One-pass dequantization on CPU: reads each packed word once and writes the weight in fp32, each value
// rounded to `round_to` (the scales dtype), so it equals the library's fp16 weight. kFastest: on x86 with AVX2 and
// F16C the 4-bit layouts go a word at a time with the rounding in registers; the same bits as kPortable.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::awq {

// Packed codes as float32, exactly (what unpack_gemm / unpack_sequential4 give, without their int64 temporaries:
// the zero points are read this way at every forward). gemm packing: int32 (rows, gemm_words(columns, bits)) ->
// (rows, columns); sequential 4-bit: int32 (rows, words) -> (rows, 8 * words).
at::Tensor decode_gemm_cpu(const at::Tensor& packed, int bits, int64_t columns);
at::Tensor decode_sequential4_cpu(const at::Tensor& packed);

// gemm: qweight int32 (in, words), zeros and scales float32 (groups, out) -> W^T (in, out).
at::Tensor dequantize_gemm_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales, int bits,
                               int64_t group_size, c10::ScalarType round_to,
                               sdk::RoundingPath path = sdk::RoundingPath::kFastest);
// Columns [first, first + tile.size(1)) of that W^T into `tile` (in, count), float32: the same values; first and
// count multiples of 8 at 4 bits (count may end at out). Contiguous CPU tensors.
void dequantize_gemm_cpu_columns(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales, int bits,
                                 int64_t group_size, c10::ScalarType round_to, int64_t first, const at::Tensor& tile,
                                 sdk::RoundingPath path = sdk::RoundingPath::kFastest);
// gemv (4 bits): qweight int32 (out, in/8), zeros and scales float32 (out, groups) -> W (out, in). kFastest: on
// x86 with AVX2 and F16C, group sizes that are multiples of 8 go a word (eight inputs) at a time with the rounding
// in registers; the same bits as kPortable.
at::Tensor dequantize_gemv_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                               int64_t group_size, c10::ScalarType round_to,
                               sdk::RoundingPath path = sdk::RoundingPath::kFastest);

// Rows [first, first + tile.size(0)) of that W into `tile` (count, in), float32: the same values. Contiguous CPU
// tensors.
void dequantize_gemv_cpu_rows(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                              int64_t group_size, c10::ScalarType round_to, int64_t first, const at::Tensor& tile,
                              sdk::RoundingPath path = sdk::RoundingPath::kFastest);

}  // namespace oft::awq
