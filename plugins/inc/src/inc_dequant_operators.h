#pragma once
// INC's weight dequantization in LibTorch operators, computed on the tensors' device: the layer's path off the CPU,
// where the CPU kernels (inc_fp8_rows.h: the table, the AVX2 lanes, the tiles and the one-token product) do not run.
// The same steps as them, hp(fp32(code) · fp32(scale)): the FP8 → fp32 conversion is exact, the product one fp32
// multiplication, then one rounding to the scale's dtype, so on CPU tensors the same bits as the CPU kernels (NaN
// codes stay NaN, their payload aside). The input's quantize-dequantize (inc_fp8_math.h, quant_dequant_input) is
// LibTorch operators already and serves both paths.
#include <ATen/core/Tensor.h>

namespace oft::inc {

// W^T (in, out) in the scale's dtype (the hp dtype), on codes' device: codes float8_e4m3fn or float8_e5m2 (in, out),
// scale 0-d or (out) in bf16, fp16 or fp32, on the same device.
at::Tensor dequantize_weight_by_operators(const at::Tensor& codes, const at::Tensor& scale);

}  // namespace oft::inc
