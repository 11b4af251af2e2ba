#include "hqq_quantizer.h"

#include <limits>
#include <stdexcept>

#include <ATen/ATen.h>

#include "hqq_packing.h"

namespace oft::hqq {
namespace {

// hqq's optimizer parameters (optimize_weights_proximal_legacy's defaults).
constexpr double kLpNorm = 0.7, kBeta = 10.0;
constexpr int kIters = 20;

// shrink_lp_op: sign(x) * max(|x| - |x|^(p-1) / beta, 0), in hqq's operation order.
at::Tensor shrink_lp(const at::Tensor& x) {
  at::Tensor out = x.abs();
  out.sub_(out.pow(kLpNorm - 1).mul(1.0 / kBeta)).clamp_min_(0.0);
  out.mul_(x.sign());
  return out;
}

}  // namespace

at::Tensor optimize_zero_proximal(const at::Tensor& w, const at::Tensor& inverse_scale, at::Tensor zero,
                                  int64_t max_code, int axis) {
  double best_error = std::numeric_limits<double>::infinity();
  for (int i = 0; i < kIters; ++i) {
    at::Tensor w_q = w.mul(inverse_scale).add(zero).round().clamp_(0, max_code);
    at::Tensor w_r = w_q.sub(zero).div(inverse_scale);
    at::Tensor w_e = shrink_lp(w.sub(w_r));
    zero = at::mean(w_q.sub(w.sub(w_e).mul(inverse_scale)), {axis}, /*keepdim=*/true);
    const double error = w.sub(w_r).abs().mean().item<float>();
    // hqq stops at the first iteration that does not improve, keeping the zero it just computed.
    if (error < best_error)
      best_error = error;
    else
      break;
  }
  return zero;
}

HqqQuantized quantize_hqq(const at::Tensor& weight, const HqqSettings& s) {
  s.validate();
  if (!weight.defined() || weight.dim() != 2 || !at::isFloatingType(weight.scalar_type()))
    throw std::invalid_argument("hqq: the weight to quantize must be a floating (out, in) matrix");
  const int64_t max_v = max_code(s.nbits);
  at::Tensor w = weight.detach().to(at::kFloat);
  at::Tensor min, max;
  if (s.channel_wise) {
    if (w.numel() % s.group_size != 0)
      throw std::invalid_argument("hqq: group_size " + std::to_string(s.group_size) + " does not divide the " +
                                  std::to_string(w.size(0)) + " x " + std::to_string(w.size(1)) + " weight");
    w = s.axis == 1 ? w.reshape({-1, s.group_size}) : w.reshape({s.group_size, -1});
    min = std::get<0>(w.min(s.axis, /*keepdim=*/true));
    max = std::get<0>(w.max(s.axis, /*keepdim=*/true));
  } else {
    min = w.min();
    max = w.max();
  }
  // hqq's `max_v / denom` is Tensor.__rtruediv__: reciprocal, then multiply.
  at::Tensor denom = max.sub(min);
  at::Tensor inverse_scale = denom.reciprocal().mul(max_v);
  inverse_scale =
      at::where(denom.abs() <= 1e-4, at::full_like(inverse_scale, 1.0), inverse_scale).clamp(c10::nullopt, 2e4);
  at::Tensor zero = min.neg().mul(inverse_scale);
  if (s.round_zero) zero = zero.round();

  HqqQuantized q;
  if (s.optimize && s.channel_wise) zero = optimize_zero_proximal(w, inverse_scale, zero, max_v, s.axis);
  q.codes = w.mul(inverse_scale).add(zero).round().clamp_(0, max_v);
  q.scale = inverse_scale.reciprocal();
  q.zero = zero;
  return q;
}

HqqState quantize_state(const at::Tensor& weight, const at::Tensor& bias, const HqqSettings& settings,
                        at::ScalarType compute_dtype) {
  HqqState state;
  state.meta = make_meta(settings, weight.size(0), weight.size(1), compute_dtype);
  const at::Device device = weight.device();
  if (bias.defined()) {
    if (bias.dim() != 1 || bias.size(0) != weight.size(0))
      throw std::invalid_argument("hqq: the bias must have " + std::to_string(weight.size(0)) + " values");
    state.bias = bias.detach().to(device, compute_dtype, /*non_blocking=*/false, /*copy=*/true);
  }
  HqqQuantized q = quantize_hqq(weight.detach().to(at::kCPU), settings);
  at::Tensor packed = pack(q.codes, state.meta.packing);
  state.W_q = (settings.view_as_float ? packed.view(compute_dtype) : packed).to(device);
  state.scale = q.scale.to(device, compute_dtype);
  state.zero = q.zero.to(device, compute_dtype);
  return state;
}

}  // namespace oft::hqq
