#pragma once
// EETQ's quantizer (symmetric_quantize, FasterTransformer/TensorRT-LLM cutlass_preprocessors.cc, which EETQ's
// quant_weights runs on W^T): per output channel n, m = max_k |W[n, k]| * (1/128) in float,
// scale[n] = m stored in the scales dtype, q = clamp(round(W / m), -128, 127) with round half away from zero
// on the float quotient (so the channel's largest magnitude maps to 128 and saturates to 127, its negative
// to -128). Dequantized: W[n, k] = q[k, n] * scale[n], rounded to the scales dtype.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::eetq {

struct QuantizedWeight {
  at::Tensor codes;   // int8 (in_features, out_features): plain codes, before EETQ's layout
  at::Tensor scales;  // (out_features) in the requested dtype
};

// `weight` (out_features, in_features), finite, any floating dtype (read as float, as EETQ reads fp16);
// scales in `scales_dtype` (float16 or float32). An all-zero channel gets scale 0 and codes 0 (TensorRT-LLM's
// guard; EETQ's loop divides 0 by 0 and stores 127: both dequantize to 0).
QuantizedWeight quantize_per_channel(const at::Tensor& weight, c10::ScalarType scales_dtype);

// W^T (in_features, out_features) as float: q * scale rounded to the scales dtype, the values forward uses.
at::Tensor dequantize_float_kn(const at::Tensor& codes, const at::Tensor& scales);

// The same into `out`, a float tensor of codes' shape (a tile of columns: codes and scales narrowed alike).
// kFastest: on x86 CPUs with AVX2 and F16C one pass, eight codes at a time (convert, scale, round in registers);
// kPortable: ATen's conversion and product, then the rounding in place. Both give the same bits.
void dequantize_float_kn_into(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& out,
                              sdk::RoundingPath path = sdk::RoundingPath::kFastest);

}  // namespace oft::eetq
