#include "oft/hf/rms_norm.h"

#include <tuple>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

// LibTorch's fused RMSNorm kernels (CUDA, from torch 2.9 on): one pass each way instead of about ten.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 9)
#include <ATen/ops/_fused_rms_norm.h>
#include <ATen/ops/_fused_rms_norm_backward.h>
#define OFT_FUSED_RMS_NORM 1
#endif

namespace oft::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Whether x's normalization (without the weight) takes LibTorch's fused CUDA kernels. They compute the same
// fp32 normalization rounded once to x's dtype, with their own reduction order (so within one rounding of the
// operators' values), and keep the same one float per row.
bool fused(const at::Tensor& x) {
#ifdef OFT_FUSED_RMS_NORM
  const auto dtype = x.scalar_type();
  return x.is_cuda() && (dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16);
#else
  (void)x;
  return false;
#endif
}

// (x.float() * rsqrt(mean(x.float()^2) + eps)).to(x.dtype) and the inverse RMS of each row.
std::tuple<at::Tensor, at::Tensor> normalize(const at::Tensor& x, double eps) {
#ifdef OFT_FUSED_RMS_NORM
  if (fused(x)) return at::_fused_rms_norm(x, {x.size(-1)}, std::nullopt, eps);
#endif
  const at::Tensor h = x.to(at::kFloat);
  const at::Tensor inverse_rms = at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return {(h * inverse_rms).to(x.scalar_type()), inverse_rms};
}

// d loss / dx from g = d loss / d normalized (in x's dtype). With n = h * r, r = (mean(h^2) + eps)^-1/2:
// dh = r g - h r^3 mean(g h) (r depends on every h of its row).
at::Tensor normalize_backward(const at::Tensor& g, const at::Tensor& x, const at::Tensor& inverse_rms) {
#ifdef OFT_FUSED_RMS_NORM
  if (fused(x))
    return std::get<0>(at::_fused_rms_norm_backward(g, x, {x.size(-1)}, inverse_rms, std::nullopt, {true, false}));
#endif
  const at::Tensor h = x.to(at::kFloat), grad = g.to(at::kFloat);
  const at::Tensor mean_gh = (grad * h).mean(-1, /*keepdim=*/true);
  return (grad * inverse_rms - h * (inverse_rms.pow(3) * mean_gh)).to(x.scalar_type());
}

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps) {
    auto [normalized, inverse_rms] = normalize(x, eps);
    ctx->save_for_backward({x, weight, inverse_rms});
    ctx->saved_data["eps"] = eps;
    return weight * normalized;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &inverse_rms = saved[2];
    const at::Tensor& dy = grads[0];
    at::Tensor dx, dweight;
    // The gradient reaches the normalized rows in their dtype, as the cast in the forward rounds them.
    if (ctx->needs_input_grad(0)) dx = normalize_backward((dy * weight).to(x.scalar_type()), x, inverse_rms);
    if (ctx->needs_input_grad(1)) {
      const at::Tensor normalized = std::get<0>(normalize(x, ctx->saved_data["eps"].toDouble()));
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
