#pragma once
// One-pass dequantization on CPU: reads each packed word once and writes W^T (in, out) in fp32, each value
// rounded to `round_to` (the scales dtype) first, so it equals the library's fp16 weight. And the group-index
// check it shares with GptqLinear. kFastest: on x86 with AVX2 and F16C, fields within a word go eight at a
// time with the rounding in registers; the same bits as kPortable.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::gptq {

// How far ahead the CPU loops prefetch packed rows: one run of 32 inputs (`bits` packed rows; at 4 bits,
// prefetching 2, 4, 8 or 16 rows ahead measured alike in bench_gptq at 1 token).
constexpr int64_t kPrefetchInputs = 32;

// Throws std::invalid_argument naming g_idx when one of its group indices lies outside [0, groups); on a
// device that is one read-back to the host.
void check_group_indices(const at::Tensor& g_idx, int64_t groups);

// qweight int32 (in*bits/32, out); zeros, scales float32 (groups, out); g_idx int32 (in), checked.
at::Tensor dequantize_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                          const at::Tensor& g_idx, int bits, c10::ScalarType round_to,
                          sdk::RoundingPath path = sdk::RoundingPath::kFastest);

// Columns [first, first + tile.size(1)) of that W^T into `tile` (in, count), float32: the same values. All
// tensors contiguous on the CPU; g_idx checked already (check_group_indices).
void dequantize_cpu_columns(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                            const at::Tensor& g_idx, int bits, c10::ScalarType round_to, int64_t first,
                            const at::Tensor& tile, sdk::RoundingPath path = sdk::RoundingPath::kFastest);

}  // namespace oft::gptq
