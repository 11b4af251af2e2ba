#pragma once
// y = x · Wᵀ + bias for a quantized layer's frozen W, dequantized by the plugin, without keeping W for the
// backward. at::linear would save the dequantized W (2-4 bytes per weight) until the backward of every layer
// of the model has run, so training over a quantized base would hold a dense copy of the whole model at its
// peak. Here the backward dequantizes W again (dx = dy · W; the bias's gradient needs no W), as bitsandbytes'
// MatMul4Bit does: one more dequantization per layer and step, for a peak of one layer's dense W.
//
// Header-only, not part of the plugin ABI (tests/abi leaves it out): each plugin compiles its own copy.
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <ATen/ExpandUtils.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/matmul.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/module.h>

#include "oft/sdk/transient_weight_buffer.h"

namespace oft::sdk {

namespace detail {

// weight(), whose whole-weight buffer (sdk::weight_buffer) may be this thread's reused one: W lives only within the
// caller's product.
inline at::Tensor transient_weight(const std::function<at::Tensor()>& weight) {
  const TransientWeightScope scope;
  return weight();
}

// What the backward needs to dequantize W again: the plugin's function and the layer it reads.
struct RecomputedWeight : torch::CustomClassHolder {
  RecomputedWeight(std::function<at::Tensor()> weight_fn, std::shared_ptr<const void> owner_alive)
      : weight(std::move(weight_fn)), owner(std::move(owner_alive)) {}
  std::function<at::Tensor()> weight;
  std::shared_ptr<const void> owner;  // keeps the layer whose tensors `weight` reads alive until the graph goes
};

// y = x · Wᵀ + bias for 1-D or 2-D x.
class RecomputedWeightLinear : public torch::autograd::Function<RecomputedWeightLinear> {
 public:
  // bias: absent rather than undefined (a Function takes no undefined tensor).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const std::optional<at::Tensor>& bias, c10::intrusive_ptr<RecomputedWeight> source) {
    at::Tensor y = at::linear(x, transient_weight(source->weight), bias);
    if (bias) ctx->saved_data["bias_sizes"] = bias->sizes();
    ctx->saved_data["weight"] = c10::IValue::make_capsule(std::move(source));
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor& dy = grads[0];
    at::Tensor dx, dbias;
    if (ctx->needs_input_grad(0)) {
      const auto source = c10::static_intrusive_pointer_cast<RecomputedWeight>(ctx->saved_data["weight"].toCapsule());
      dx = at::matmul(dy, transient_weight(source->weight));  // (tokens, out) · (out, in), as at::linear's backward
    }
    if (ctx->saved_data.count("bias_sizes") && ctx->needs_input_grad(1))
      dbias = at::sum_to(dy, ctx->saved_data["bias_sizes"].toIntVector());
    return {dx, dbias, at::Tensor()};
  }
};

}  // namespace detail

// x (..., in) · weight()ᵀ + bias (may be undefined) with at::linear's kernels, so the outputs are those of
// at::linear(x, weight(), bias). weight() returns the (out, in) weight in x's dtype (a transposed view of an
// (in, out) matrix is fine); it is called once here and, each time a gradient flows back to x, once more. It
// may read `owner`'s tensors: when a shared_ptr owns `owner` (as a model owns its layers), the graph keeps it
// alive; otherwise the caller must.
inline at::Tensor linear_recomputing_weight(const at::Tensor& x, const at::Tensor& bias, const torch::nn::Module& owner,
                                            std::function<at::Tensor()> weight) {
  const bool needs_grad = at::GradMode::is_enabled() && (x.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (!needs_grad) return at::linear(x, detail::transient_weight(weight), bias);
  // Inputs of more than 2 dimensions go in as 2-D, where at::linear's result is a new tensor the Function can own (not
  // a view); at::linear folds them into one GEMM too, and the reshapes are ordinary autograd views. It adds the bias
  // inside that GEMM only for contiguous ones, else after it: so does this, for the same bits.
  const bool folded = x.dim() > 2;
  const bool bias_inside = bias.defined() && (!folded || x.is_contiguous());
  const at::Tensor y = detail::RecomputedWeightLinear::apply(
      folded ? x.reshape({-1, x.size(-1)}) : x, bias_inside ? std::optional<at::Tensor>(bias) : std::nullopt,
      c10::make_intrusive<detail::RecomputedWeight>(std::move(weight), owner.weak_from_this().lock()));
  if (!folded) return y;
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = y.size(1);
  return bias_inside || !bias.defined() ? y.view(shape) : y.view(shape) + bias;
}

}  // namespace oft::sdk
