#include "eetq_linear.h"

#include <stdexcept>
#include <string>
#include <utility>

#include <ATen/ATen.h>

#include "eetq_dequant_operators.h"
#include "eetq_gemv_cpu.h"
#include "eetq_layout.h"
#include "eetq_quantizer.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/tensor_checks.h"
#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::eetq {
namespace {

// A few-token tile's width in output columns: 64 int8 codes, one cache line of each row (see forward).
constexpr int64_t kTileColumns = 64;

}  // namespace

void check_weight(const at::Tensor& weight, const sdk::LinearShape& shape) {
  if (!weight.defined()) throw std::invalid_argument("eetq: tensor \"weight\" is missing");
  if (weight.scalar_type() != at::kChar)
    throw std::invalid_argument(std::string("eetq: tensor \"weight\" has dtype ") +
                                c10::toString(weight.scalar_type()) + ", expected Char (int8)");
  sdk::expect_shape("eetq", weight, "weight", {shape.in_features, shape.out_features});
}

EetqLinear::EetqLinear(at::Tensor codes, at::Tensor scales, at::Tensor bias, const sdk::LinearShape& shape)
    : in_features_(shape.in_features), out_features_(shape.out_features) {
  check_layout_shape(in_features_, out_features_);
  check_weight(codes, shape);
  if (!scales.defined()) throw std::invalid_argument("eetq: tensor \"weight_scales\" is missing");
  if (scales.scalar_type() != at::kHalf && scales.scalar_type() != at::kFloat)
    throw std::invalid_argument(std::string("eetq: tensor \"weight_scales\" has dtype ") +
                                c10::toString(scales.scalar_type()) + ", expected Half or Float");
  sdk::expect_shape("eetq", scales, "weight_scales", {out_features_});
  if (shape.bias && !bias.defined())
    throw std::invalid_argument("eetq: tensor \"bias\" is missing (the layer has a bias)");
  if (!shape.bias && bias.defined())
    throw std::invalid_argument("eetq: tensor \"bias\" is present but the layer has no bias");
  if (bias.defined()) {
    if (!at::isFloatingType(bias.scalar_type()))
      throw std::invalid_argument(std::string("eetq: tensor \"bias\" has dtype ") + c10::toString(bias.scalar_type()) +
                                  ", expected a floating dtype");
    sdk::expect_shape("eetq", bias, "bias", {out_features_});
  }
  // One device for all: the layer computes where its tensors are.
  for (const auto& [tensor, name] : {std::pair{&scales, "weight_scales"}, {&bias, "bias"}})
    if (tensor->defined() && tensor->device() != codes.device())
      throw std::invalid_argument(std::string("eetq: tensor \"") + name + "\" is on " + tensor->device().str() +
                                  ", \"weight\" on " + codes.device().str());
  codes_ = register_buffer("weight", codes.contiguous());
  scales_ = register_buffer("weight_scales", scales.clone());  // a checkpoint's tensor: merging rewrites it in place
  if (bias.defined()) bias_ = register_buffer("bias", bias);
}

at::Tensor EetqLinear::dequantize() const {
  if (!codes_.device().is_cpu()) return dequantize_kn_by_operators(codes_, scales_).t().contiguous();
  return dequantize_float_kn(codes_, scales_).to(scales_.scalar_type()).t().contiguous();
}

void EetqLinear::set_cache_dequantized(bool enabled) { weight_cache_.set_enabled(enabled); }

at::Tensor EetqLinear::compute_weight() {
  return weight_cache_.get({&codes_, &scales_}, [&] {
    return codes_.device().is_cpu() ? dequantize_float_kn(codes_, scales_)
                                    : dequantize_kn_by_operators(codes_, scales_);
  });
}

at::Tensor EetqLinear::forward(const at::Tensor& x) {
  if (x.device() != device())
    throw std::invalid_argument("eetq: input is on " + x.device().str() + ", the layer's tensors on " + device().str());
  if (x.dim() == 0 || x.size(-1) != in_features_)
    throw std::invalid_argument("eetq: input has " + std::to_string(x.dim() ? x.size(-1) : 0) +
                                " features, the layer expects " + std::to_string(in_features_));
  if (!device().is_cpu()) {
    // One GEMM in the scales dtype (fp16 or fp32), as gptq on CUDA; the weight by LibTorch operators.
    const at::ScalarType dtype = scales_.scalar_type();
    const at::Tensor b = bias_.defined() ? bias_.to(dtype) : at::Tensor();
    return sdk::linear_recomputing_weight(x.to(dtype), b, *this, [this] { return compute_weight().t(); })
        .to(x.scalar_type());
  }
  if (!weight_cache_.enabled() && sdk::tiled_linear_applies(x, bias_)) {
    if (gemv_applies(x.numel() / in_features_, out_features_, scales_.scalar_type())) {
      return sdk::few_token_result(gemv_cpu(x.reshape(-1).to(at::kFloat).contiguous(), codes_, scales_), x, bias_);
    }
    // A few tokens: the codes dequantized a tile of output columns at a time (no dense W written). Tiles of
    // kTileColumns read a whole cache line of each row of the (in, out) int8 codes; the default width, 32 columns
    // at 4096 inputs, read half of each (4096x4096, 1 token: 2.2x -> 1.7x dense, A/B).
    return sdk::tiled_dequantized_linear(x, bias_, out_features_, at::kFloat, sdk::TileLayout::kInByOut, kTileColumns,
                                         [&](int64_t first, int64_t count, const at::Tensor& tile) {
                                           dequantize_float_kn_into(codes_.narrow(1, first, count),
                                                                    scales_.narrow(0, first, count), tile);
                                         });
  }
  // compute_weight() is (in, out): its transposed view makes at::linear the same matmul.
  at::Tensor y =
      sdk::linear_recomputing_weight(x.to(at::kFloat), at::Tensor(), *this, [this] { return compute_weight().t(); });
  if (bias_.defined()) y.add_(bias_.to(at::kFloat));
  return y.to(x.scalar_type());
}

void EetqLinear::set_dense_weight(const at::Tensor& weight) {
  sdk::expect_shape("eetq", weight, "merged weight", {out_features_, in_features_});
  // Quantized on a CPU copy (the quantizer runs there); copy_ moves the results to the layer's device.
  QuantizedWeight q = quantize_per_channel(weight.to(at::kCPU), scales_.scalar_type());
  at::NoGradGuard no_grad;
  codes_.copy_(q.codes);
  scales_.copy_(q.scales);
}

}  // namespace oft::eetq
