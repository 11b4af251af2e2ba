#include "eetq_quantizer.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::eetq {

QuantizedWeight quantize_per_channel(const at::Tensor& weight, c10::ScalarType scales_dtype) {
  if (weight.dim() != 2 || !at::isFloatingType(weight.scalar_type()))
    throw std::invalid_argument(
        "eetq: the weight to quantize must be a 2-D floating tensor (out_features, "
        "in_features), got " +
        std::to_string(weight.dim()) + "-D " + c10::toString(weight.scalar_type()));
  if (scales_dtype != at::kHalf && scales_dtype != at::kFloat)
    throw std::invalid_argument(std::string("eetq: weight_scales dtype must be Half or Float, got ") +
                                c10::toString(scales_dtype));
  const at::Tensor w = weight.detach().to(at::kFloat).t();  // W^T (K, N), as EETQ's quantizer reads it
  if (!at::isfinite(w).all().item<bool>())
    throw std::invalid_argument("eetq: the weight to quantize has non-finite values");
  const at::Tensor m = w.abs().amax(0).mul_(1.0 / 128);  // exact: a power of two
  // The float quotient, rounded half away from zero (exact in double), clamped to int8.
  const at::Tensor quotient = (w / m).to(at::kDouble);
  at::Tensor rounded = at::where(quotient >= 0, (quotient + 0.5).floor(), (quotient - 0.5).ceil());
  rounded = at::where(m == 0, at::zeros_like(rounded), rounded);
  return {rounded.clamp(-128, 127).to(at::kChar).contiguous(), m.to(scales_dtype)};
}

void dequantize_float_kn_into(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& out) {
  // EETQ's kernel dequantizes in fp16: q * scale rounded once to fp16. That product is exact in float (an 8-bit
  // code times an 11-bit significand), so it is computed with ATen's float kernels and then rounded in place;
  // the values are the same. fp32 scales: one float product.
  out.copy_(codes);
  out.mul_(scales.to(at::kFloat));
  sdk::round_tensor_in_place(out, scales.scalar_type());
}

at::Tensor dequantize_float_kn(const at::Tensor& codes, const at::Tensor& scales) {
  at::Tensor out = at::empty(codes.sizes(), codes.options().dtype(at::kFloat));
  dequantize_float_kn_into(codes, scales, out);
  return out;
}

}  // namespace oft::eetq
