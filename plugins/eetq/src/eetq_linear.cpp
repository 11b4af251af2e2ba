#include "eetq_linear.h"

#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>

#include "eetq_layout.h"
#include "eetq_quantizer.h"

namespace oft::eetq {
namespace {

std::string shape_text(at::IntArrayRef sizes) {
  std::string text = "(";
  for (size_t i = 0; i < sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(sizes[i]);
  return text + ")";
}

void expect_shape(const at::Tensor& t, const std::string& name, std::vector<int64_t> expected) {
  if (t.sizes() != at::IntArrayRef(expected))
    throw std::invalid_argument("eetq: tensor \"" + name + "\" has shape " + shape_text(t.sizes()) + ", expected " +
                                shape_text(expected));
}

// This build has no CUDA kernels (EETQ's GEMM is CUDA-only and its layout is for SM 75-89).
void expect_cpu(const at::Tensor& t, const std::string& name) {
  if (!t.device().is_cpu())
    throw std::invalid_argument("eetq: tensor \"" + name + "\" is on " + t.device().str() +
                                "; the eetq plugin computes on CPU only (no CUDA kernels in this build)");
}

}  // namespace

void check_weight(const at::Tensor& weight, const sdk::LinearShape& shape) {
  if (!weight.defined()) throw std::invalid_argument("eetq: tensor \"weight\" is missing");
  if (weight.scalar_type() != at::kChar)
    throw std::invalid_argument(std::string("eetq: tensor \"weight\" has dtype ") +
                                c10::toString(weight.scalar_type()) + ", expected Char (int8)");
  expect_shape(weight, "weight", {shape.in_features, shape.out_features});
  expect_cpu(weight, "weight");
}

EetqLinear::EetqLinear(at::Tensor codes, at::Tensor scales, at::Tensor bias, const sdk::LinearShape& shape)
    : in_features_(shape.in_features), out_features_(shape.out_features) {
  check_layout_shape(in_features_, out_features_);
  check_weight(codes, shape);
  if (!scales.defined()) throw std::invalid_argument("eetq: tensor \"weight_scales\" is missing");
  if (scales.scalar_type() != at::kHalf && scales.scalar_type() != at::kFloat)
    throw std::invalid_argument(std::string("eetq: tensor \"weight_scales\" has dtype ") +
                                c10::toString(scales.scalar_type()) + ", expected Half or Float");
  expect_shape(scales, "weight_scales", {out_features_});
  expect_cpu(scales, "weight_scales");
  if (shape.bias && !bias.defined())
    throw std::invalid_argument("eetq: tensor \"bias\" is missing (the layer has a bias)");
  if (!shape.bias && bias.defined())
    throw std::invalid_argument("eetq: tensor \"bias\" is present but the layer has no bias");
  if (bias.defined()) {
    if (!at::isFloatingType(bias.scalar_type()))
      throw std::invalid_argument(std::string("eetq: tensor \"bias\" has dtype ") + c10::toString(bias.scalar_type()) +
                                  ", expected a floating dtype");
    expect_shape(bias, "bias", {out_features_});
    expect_cpu(bias, "bias");
  }
  codes_ = register_buffer("weight", codes.contiguous());
  scales_ = register_buffer("weight_scales", scales.clone());  // a checkpoint's tensor: merging rewrites it in place
  if (bias.defined()) bias_ = register_buffer("bias", bias);
}

at::Tensor EetqLinear::dequantize() const {
  return dequantize_float_kn(codes_, scales_).to(scales_.scalar_type()).t().contiguous();
}

void EetqLinear::set_cache_dequantized(bool enabled) {
  cache_enabled_ = enabled;
  cached_weight_ = at::Tensor();
  cached_versions_.clear();
}

std::vector<std::pair<const void*, uint32_t>> EetqLinear::tensor_versions() const {
  return {{codes_.data_ptr(), static_cast<uint32_t>(codes_._version())},
          {scales_.data_ptr(), static_cast<uint32_t>(scales_._version())}};
}

at::Tensor EetqLinear::compute_weight() {
  if (cache_enabled_ && cached_weight_.defined() && cached_versions_ == tensor_versions()) return cached_weight_;
  at::Tensor w = dequantize_float_kn(codes_, scales_);
  if (cache_enabled_) {
    cached_weight_ = w;
    cached_versions_ = tensor_versions();
  }
  return w;
}

at::Tensor EetqLinear::forward(const at::Tensor& x) {
  expect_cpu(x, "input");
  if (x.dim() == 0 || x.size(-1) != in_features_)
    throw std::invalid_argument("eetq: input has " + std::to_string(x.dim() ? x.size(-1) : 0) +
                                " features, the layer expects " + std::to_string(in_features_));
  at::Tensor y = at::matmul(x.to(at::kFloat), compute_weight());
  if (bias_.defined()) y.add_(bias_.to(at::kFloat));
  return y.to(x.scalar_type());
}

void EetqLinear::set_dense_weight(const at::Tensor& weight) {
  expect_shape(weight, "merged weight", {out_features_, in_features_});
  QuantizedWeight q = quantize_per_channel(weight, scales_.scalar_type());
  at::NoGradGuard no_grad;
  codes_.copy_(q.codes);
  scales_.copy_(q.scales);
}

}  // namespace oft::eetq
