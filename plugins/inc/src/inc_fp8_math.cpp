#include "inc_fp8_math.h"

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Float8_e4m3fn.h>
#include <c10/util/Float8_e5m2.h>

#include "inc_fp8_rows.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::inc {

double fp8_max(c10::ScalarType fp8) {
  if (fp8 == at::kFloat8_e4m3fn) return static_cast<double>(std::numeric_limits<c10::Float8_e4m3fn>::max());
  if (fp8 == at::kFloat8_e5m2) return static_cast<double>(std::numeric_limits<c10::Float8_e5m2>::max());
  throw std::invalid_argument(std::string("inc: expected float8_e4m3fn or float8_e5m2, got ") + c10::toString(fp8));
}

at::Tensor maxabs_scale(const at::Tensor& maxabs, c10::ScalarType fp8, double backoff, bool pow2) {
  at::Tensor s = maxabs / (fp8_max(fp8) * backoff);
  return pow2 ? at::exp2(at::ceil(at::log2(s))) : s;
}

at::Tensor weight_scale(const at::Tensor& weight, c10::ScalarType fp8, c10::ScalarType hp, bool per_channel,
                        bool pow2) {
  at::Tensor w = weight.detach();
  if (!per_channel) return maxabs_scale(w.abs().max().to(hp), fp8, kWeightBackoff, pow2);
  at::Tensor s = w.abs().amax(/*dim=*/1).to(hp) / (fp8_max(fp8) * kWeightBackoff);
  // INC floors per-channel scales at bf16's smallest normal (all-zero rows) before rounding them.
  s = at::maximum(s, at::scalar_tensor(static_cast<double>(std::numeric_limits<c10::BFloat16>::min())));
  return pow2 ? at::exp2(at::ceil(at::log2(s))) : s;
}

at::Tensor input_scale(const at::Tensor& calibration, c10::ScalarType fp8, c10::ScalarType hp, bool pow2) {
  return maxabs_scale(calibration.detach().abs().max().to(hp), fp8, kInputBackoff, pow2);
}

at::Tensor quantize_weight(const at::Tensor& weight, const at::Tensor& scale, c10::ScalarType fp8) {
  at::Tensor inverse = at::reciprocal(scale).to(at::kFloat);
  if (inverse.dim() == 1) inverse = inverse.view({-1, 1});
  const double top = fp8_max(fp8);
  return (weight.detach().to(at::kFloat) * inverse).clamp(-top, top).to(fp8).t().contiguous();
}

void dequantize_weight_into(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& out) {
  if (codes.dim() != 2 || codes.stride(1) != 1 || !codes.device().is_cpu() || out.scalar_type() != at::kFloat ||
      !out.is_contiguous() || out.sizes() != codes.sizes())
    throw std::invalid_argument(
        "inc: dequantize_weight_into takes CPU codes with contiguous rows and a float "
        "output of their shape");
  fp8_max(codes.scalar_type());  // throws, naming the dtype, for anything but the two FP8 types
  const Fp8Rows how{codes.scalar_type(), scale.scalar_type()};
  if (how.round_to != at::kFloat && how.round_to != at::kHalf && how.round_to != at::kBFloat16)
    throw std::invalid_argument(std::string("inc: dequantize_weight_into takes a bf16, fp16 or fp32 scale, got ") +
                                c10::toString(how.round_to));
  const int64_t rows = codes.size(0), cols = codes.size(1), ld = codes.stride(0);
  const at::Tensor s = scale.to(at::kFloat).expand({cols}).contiguous();
  const auto* c = static_cast<const uint8_t*>(codes.const_data_ptr());
  const float* sp = s.const_data_ptr<float>();
  float* o = out.mutable_data_ptr<float>();
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    dequantize_fp8_rows(c + begin * ld, ld, end - begin, cols, sp, how, o + begin * cols);
  });
}

bool one_token_product_applies(int64_t tokens, const at::Tensor& codes, const at::Tensor& scale) {
  return tokens == 1 && codes.dim() == 2 && codes.stride(1) == 1 && codes.device().is_cpu() &&
         codes.size(1) % kGemvColumns == 0 && fp8_gemv_applies(Fp8Rows{codes.scalar_type(), scale.scalar_type()}) &&
         scale.numel() > 0 && scale.abs().max().item<float>() <= kFp8GemvMaxScale;
}

at::Tensor one_token_product(const at::Tensor& x, const at::Tensor& codes, const at::Tensor& scale,
                             sdk::ProductLanes lanes) {
  const int64_t rows = codes.size(0), cols = codes.size(1), ld = codes.stride(0);
  if (!one_token_product_applies(1, codes, scale) || x.numel() != rows || x.scalar_type() != at::kFloat ||
      !x.is_contiguous())
    throw std::invalid_argument("inc: the one-token product does not apply to these codes on this CPU");
  const Fp8Rows how{codes.scalar_type(), scale.scalar_type()};
  const at::Tensor s = scale.to(at::kFloat).expand({cols}).contiguous();
  at::Tensor y = at::empty({cols}, x.options());
  fp8_gemv(static_cast<const uint8_t*>(codes.const_data_ptr()), ld, rows, cols, s.const_data_ptr<float>(),
           x.const_data_ptr<float>(), how, y.mutable_data_ptr<float>(), lanes);
  return y;
}

at::Tensor dequantize_weight_float(const at::Tensor& codes, const at::Tensor& scale) {
  at::Tensor out = sdk::weight_buffer(codes.sizes(), at::kFloat);
  dequantize_weight_into(codes.stride(-1) == 1 ? codes : codes.contiguous(), scale, out);
  return out;
}

at::Tensor dequantize_weight(const at::Tensor& codes, const at::Tensor& scale) {
  return dequantize_weight_float(codes, scale).to(scale.scalar_type());
}

at::Tensor quant_dequant_input(const at::Tensor& x, const at::Tensor& scale, c10::ScalarType fp8, c10::ScalarType out) {
  const double top = fp8_max(fp8);
  at::Tensor s = scale.to(at::kFloat);
  at::Tensor scaled = (x.to(at::kFloat) / s).clamp(-top, top);
  // Differentiable like INC's: the backward of the cast to fp32 casts the incoming gradient to the FP8
  // dtype, and the rounding passes it on unchanged (torchao's _RoundToFloat8).
  at::Tensor rounded = scaled.to(fp8).to(at::kFloat);
  return (rounded * s).to(out);
}

}  // namespace oft::inc
