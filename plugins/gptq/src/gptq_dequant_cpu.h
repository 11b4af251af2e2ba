#pragma once
// One-pass dequantization on CPU: reads each packed word once and writes W^T (in, out) in fp32,
// each value rounded to `round_to` (the scales dtype) first, so it equals the library's fp16 weight.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace oft::gptq {

// qweight int32 (in*bits/32, out); zeros, scales float32 (groups, out); g_idx int32 (in).
at::Tensor dequantize_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                          const at::Tensor& g_idx, int bits, c10::ScalarType round_to);

}  // namespace oft::gptq
