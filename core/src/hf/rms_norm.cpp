#include "oft/hf/rms_norm.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace oft::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps) {
    const at::Tensor h = x.to(at::kFloat);
    const at::Tensor inverse_rms = at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
    ctx->save_for_backward({x, weight, inverse_rms});
    return weight * (h * inverse_rms).to(x.scalar_type());
  }

  // With n = h * r, r = (mean(h^2) + eps)^-1/2 and g the gradient reaching n:
  // dh = r g - h r^3 mean(g h) (r depends on every h of its row).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &inverse_rms = saved[2];
    const at::Tensor& dy = grads[0];
    const at::Tensor h = x.to(at::kFloat);
    at::Tensor dx, dweight;
    if (ctx->needs_input_grad(0)) {
      // The gradient reaches the normalized rows in their dtype, as the cast in the forward rounds them.
      const at::Tensor g = (dy * weight).to(x.scalar_type()).to(at::kFloat);
      const at::Tensor mean_gh = (g * h).mean(-1, /*keepdim=*/true);
      dx = (g * inverse_rms - h * (inverse_rms.pow(3) * mean_gh)).to(x.scalar_type());
    }
    if (ctx->needs_input_grad(1)) {
      const at::Tensor normalized = (h * inverse_rms).to(x.scalar_type());
      dweight = (dy * normalized).reshape({-1, weight.size(-1)}).sum(0).to(weight.scalar_type());
    }
    return {dx, dweight, at::Tensor()};
  }
};

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return RmsNormFunction::apply(x, weight, eps);
}

}  // namespace oft::models
