#include "inc_linear.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "inc_dequant_operators.h"
#include "inc_fp8_math.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/tensor_checks.h"
#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::inc {
namespace {

[[noreturn]] void bad(const char* name, const std::string& what) {
  throw std::invalid_argument(std::string("inc: tensor \"") + name + "\" " + what);
}

void expect_on(const at::Tensor& t, const char* name, const c10::Device& device) {
  if (t.defined() && t.device() != device) bad(name, "is on " + t.device().str() + ", the weight on " + device.str());
}

void expect_scale(const at::Tensor& t, const char* name, std::vector<int64_t> channel_shape = {}) {
  const c10::ScalarType dtype = t.scalar_type();
  if (dtype != at::kBFloat16 && dtype != at::kHalf && dtype != at::kFloat)
    bad(name, std::string("has dtype ") + c10::toString(dtype) + ", expected bf16, fp16 or fp32");
  if (t.numel() != 1 && (channel_shape.empty() || t.sizes() != at::IntArrayRef(channel_shape)))
    bad(name, "has shape " + sdk::shape_text(t.sizes()) + ", expected a scalar" +
                  (channel_shape.empty() ? "" : " or " + sdk::shape_text(channel_shape)));
}

at::Tensor expect_zero(const at::Tensor& t, const char* name) {
  if (!t.defined()) return t;
  if (t.numel() != 1 || t.to(at::kFloat).item<float>() != 0.0f)
    bad(name, "must be the scalar 0.0 (INC's FP8 zero point), got shape " + sdk::shape_text(t.sizes()));
  return t;
}

}  // namespace

IncLinear::IncLinear(IncTensors t, const sdk::LinearShape& shape, const IncConfig& config, Naming naming)
    : config_(config), naming_(naming), in_features_(shape.in_features), out_features_(shape.out_features) {
  const int64_t k = in_features_, n = out_features_;
  const bool qdq = naming == Naming::Qdq;
  const char* weight_scale_name = qdq ? "dequant_weights.scale" : "scale_weight";
  const char* input_scale_name = qdq ? "quant_input.scale" : "scale_input";
  if (!t.weight.defined()) bad("weight", "is missing");
  if (!t.weight_scale.defined()) bad(weight_scale_name, "is missing");
  if (!t.input_scale.defined() && !t.input_scale_inv.defined())
    bad(input_scale_name, qdq ? "is missing (and so is quant_input.scale_inv)" : "is missing");
  for (auto [tensor, name] : {std::pair{&t.bias, "bias"},
                              {&t.weight_scale, weight_scale_name},
                              {&t.input_scale, input_scale_name},
                              {&t.input_scale_inv, "quant_input.scale_inv"},
                              {&t.weight_zero_point, "dequant_weights.zero_point"},
                              {&t.input_zero_point, "quant_input.zero_point"}})
    expect_on(*tensor, name, t.weight.device());

  const auto fp8 = t.weight.scalar_type();
  if (fp8 != at::kFloat8_e4m3fn && fp8 != at::kFloat8_e5m2)
    bad("weight", std::string("has dtype ") + c10::toString(fp8) + ", expected float8_e4m3fn or float8_e5m2");
  const auto configured = config.fp8_config == "E5M2" ? at::kFloat8_e5m2 : at::kFloat8_e4m3fn;
  if (fp8 != configured)
    bad("weight",
        std::string("has dtype ") + c10::toString(fp8) + " but quantization_config fp8_config is " + config.fp8_config);
  if (t.weight.sizes() != at::IntArrayRef({k, n}))
    bad("weight", "has shape " + sdk::shape_text(t.weight.sizes()) + ", expected (in_features, out_features) = " +
                      sdk::shape_text({k, n}) + " (INC stores the FP8 weight transposed)");
  expect_scale(t.weight_scale, weight_scale_name, {n});
  if (t.input_scale.defined()) expect_scale(t.input_scale, input_scale_name);
  if (t.input_scale_inv.defined()) expect_scale(t.input_scale_inv, "quant_input.scale_inv");
  if (!t.input_scale.defined()) t.input_scale = at::reciprocal(t.input_scale_inv);
  if (qdq && !t.input_scale_inv.defined()) t.input_scale_inv = at::reciprocal(t.input_scale);
  if (t.weight_scale.numel() == 1) t.weight_scale = t.weight_scale.reshape({});
  t.input_scale = t.input_scale.reshape({});
  if (t.input_scale_inv.defined()) t.input_scale_inv = t.input_scale_inv.reshape({});
  if (shape.bias && !t.bias.defined()) bad("bias", "is missing (the layer has a bias)");
  if (!shape.bias && t.bias.defined()) bad("bias", "is present but the layer has no bias");
  if (t.bias.defined()) sdk::expect_shape("inc", t.bias, "bias", {n});

  // Own tensor objects (sharing the caller's storage): merging swaps in new ones (set_dense_weight) and must
  // leave the checkpoint's tensors alone.
  weight_ = register_buffer("weight", t.weight.detach());
  if (t.bias.defined()) bias_ = register_buffer("bias", t.bias);
  weight_scale_ = register_buffer("weight_scale", t.weight_scale.detach());
  input_scale_ = register_buffer("input_scale", t.input_scale);
  if (t.input_scale_inv.defined()) input_scale_inv_ = register_buffer("input_scale_inv", t.input_scale_inv);
  if (expect_zero(t.weight_zero_point, "dequant_weights.zero_point").defined())
    weight_zero_point_ = register_buffer("weight_zero_point", t.weight_zero_point);
  if (expect_zero(t.input_zero_point, "quant_input.zero_point").defined())
    input_zero_point_ = register_buffer("input_zero_point", t.input_zero_point);
}

at::Tensor IncLinear::dense_weight() {
  const at::Tensor w = weight_.device().is_cpu() ? dequantize_weight(weight_, weight_scale_)
                                                 : dequantize_weight_by_operators(weight_, weight_scale_);
  return w.t().contiguous();
}

at::Tensor IncLinear::forward(const at::Tensor& x) {
  if (x.size(-1) != in_features_)
    throw std::invalid_argument("inc: input has " + std::to_string(x.size(-1)) + " features, the layer expects " +
                                std::to_string(in_features_));
  if (x.device() != weight_.device())
    throw std::invalid_argument("inc: input is on " + x.device().str() + ", the layer's tensors on " +
                                weight_.device().str());
  const auto hp = weight_scale_.scalar_type();
  at::Tensor xq = quant_dequant_input(x, input_scale_, weight_.scalar_type(), hp);
  at::Tensor y;
  if (!weight_.device().is_cpu()) {
    // Off the CPU: INC's matmul in the hp dtype on the operators' W (in, out), no dense W kept for the backward.
    y = sdk::linear_recomputing_weight(xq, at::Tensor(), *this, [this] { return compute_weight().t(); });
  } else if (!weight_cache_.enabled() && sdk::tiled_linear_applies(xq) &&
             one_token_product_applies(xq.numel() / in_features_, weight_, weight_scale_)) {
    // One token: straight from the codes into the outputs' sums (inc_fp8_rows.h), W never written.
    y = sdk::few_token_result(one_token_product(xq.reshape(-1).to(at::kFloat).contiguous(), weight_, weight_scale_), xq,
                              at::Tensor());
  } else if (!weight_cache_.enabled() && sdk::tiled_linear_applies(xq)) {
    // A few tokens: the FP8 codes dequantized a tile of output columns at a time (no dense W written). Tiles of
    // at least 128 columns: the codes are stored (in, out), so a tile reads `count` bytes from each of `in` rows;
    // at 4096 x 4096 one token took half the time with 128 columns as with 32 (one thread, A/B in one session).
    y = sdk::tiled_dequantized_linear(
        xq, at::Tensor(), out_features_, at::kFloat, sdk::TileLayout::kInByOut, 128,
        [&](int64_t first, int64_t count, const at::Tensor& tile) {
          const at::Tensor scale = weight_scale_.dim() == 0 ? weight_scale_ : weight_scale_.narrow(0, first, count);
          dequantize_weight_into(weight_.narrow(1, first, count), scale, tile);
        });
  } else {
    // compute_weight() is (in, out): its transposed view makes at::linear the same matmul.
    y = sdk::linear_recomputing_weight(xq.to(at::kFloat), at::Tensor(), *this, [this] {
          return compute_weight().t();
        }).to(hp);
  }
  if (bias_.defined()) y = y + bias_.to(hp);
  return y.to(x.scalar_type());
}

void IncLinear::set_cache_dequantized(bool enabled) { weight_cache_.set_enabled(enabled); }

at::Tensor IncLinear::compute_weight() {
  return weight_cache_.get({&weight_, &weight_scale_}, [&] {
    return weight_.device().is_cpu() ? dequantize_weight_float(weight_, weight_scale_)
                                     : dequantize_weight_by_operators(weight_, weight_scale_);
  });
}

void IncLinear::set_dense_weight(const at::Tensor& weight) {
  if (weight.sizes() != at::IntArrayRef({out_features_, in_features_}))
    throw std::invalid_argument("inc: set_dense_weight got shape " + sdk::shape_text(weight.sizes()) + ", expected " +
                                sdk::shape_text({out_features_, in_features_}));
  const bool per_channel = weight_scale_.dim() == 1;
  at::NoGradGuard no_grad;
  // Quantized on the CPU wherever the layer is (the scale's log2 and exp2 are the CPU's), then moved. New tensors
  // rather than writes into the old ones, whose storage may be the checkpoint's.
  const c10::Device device = weight_.device();
  const at::Tensor w = weight.to(at::kCPU);
  at::Tensor scale =
      inc::weight_scale(w, weight_.scalar_type(), weight_scale_.scalar_type(), per_channel, config_.pow2_weight());
  weight_.set_(quantize_weight(w, scale, weight_.scalar_type()).to(device));
  weight_scale_.set_(scale.to(device));
}

}  // namespace oft::inc
