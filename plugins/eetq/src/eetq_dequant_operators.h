#pragma once
// EETQ's dequantization in LibTorch operators, computed on the tensors' device (the path for layers off the CPU; no
// data_ptr loops, no host syncs): W^T[k, n] = q[k, n] * scale[n] in fp32, rounded once to the scales dtype. The same
// bits as the CPU kernel (dequantize_float_kn, eetq_quantizer.h) on CPU tensors: the same one fp32 product (exact
// for fp16 scales: an 8-bit code times an 11-bit significand), then the same one rounding.
#include <ATen/core/Tensor.h>

namespace oft::eetq {

// codes: plain int8 codes (in, out); scales (out), fp16 or fp32. Returns W^T (in, out) in the scales dtype.
at::Tensor dequantize_kn_by_operators(const at::Tensor& codes, const at::Tensor& scales);

}  // namespace oft::eetq
