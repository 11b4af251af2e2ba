#include "awq_scale_search.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "awq_quantizer.h"

namespace oft::awq {
namespace {

constexpr int64_t kScaleGrid = 20, kLossRows = 4096;

void check_inputs(const std::vector<at::Tensor>& weights, const at::Tensor& calibration, const AwqConfig& config) {
  if (weights.empty()) throw std::invalid_argument("awq: the input scale search needs at least one weight");
  const int64_t k = weights.front().dim() == 2 ? weights.front().size(1) : -1;
  for (size_t i = 0; i < weights.size(); ++i) {
    const at::Tensor& w = weights[i];
    if (w.dim() != 2 || !at::isFloatingType(w.scalar_type()) || w.size(1) != k)
      throw std::invalid_argument("awq: input scale search: weight " + std::to_string(i) +
                                  " must be a floating (out_features, " + std::to_string(k) + ") matrix like weight 0");
    if (!w.device().is_cpu())
      throw std::invalid_argument("awq: input scale search: weight " + std::to_string(i) + " is on " +
                                  w.device().str() +
                                  "; the search runs on CPU tensors (the format searches CPU copies)");
  }
  if (config.group_size != -1 && k % config.group_size != 0)
    throw std::invalid_argument("awq: option group_size " + std::to_string(config.group_size) +
                                " must divide in_features " + std::to_string(k));
  if (!calibration.defined() || calibration.numel() == 0 || calibration.size(-1) != k)
    throw std::invalid_argument("awq: the input scale search needs calibration inputs (..., " + std::to_string(k) +
                                ")");
}

// Per input channel: the mean over all rows of |w| relative to its quantization group's max |w|.
at::Tensor weight_mean(const at::Tensor& w, const AwqConfig& config) {
  const int64_t rows = w.size(0), k = w.size(1), gs = config.effective_group_size(k);
  at::Tensor a = w.abs().view({rows, k / gs, gs});
  return (a / (a.amax(2, true) + 1e-6)).view({rows, k}).mean(0);
}

// Mean squared output error of round-to-nearest Q(W diag(s)) diag(1/s) for every weight, over all
// outputs together; s undefined means no scale.
double output_error(const std::vector<at::Tensor>& weights, const at::Tensor& s, const at::Tensor& x,
                    const at::Tensor& reference, const AwqConfig& config) {
  std::vector<at::Tensor> dequantized;
  for (const auto& w : weights) {
    if (!s.defined()) {
      dequantized.push_back(pseudo_quantize_rtn(w, config).to(at::kFloat));
      continue;
    }
    // In the weight's dtype, as the library scales and quantizes the layer's own weight.
    const at::Tensor scale = s.to(w.scalar_type()).view({1, -1});
    dequantized.push_back((pseudo_quantize_rtn(w * scale, config) / scale).to(at::kFloat));
  }
  at::Tensor out = at::matmul(x, at::cat(dequantized).t());
  const double error = (out - reference).pow(2).to(at::kDouble).mean().item<double>();
  return std::isnan(error) ? std::numeric_limits<double>::infinity() : error;
}

}  // namespace

ScaleSearchResult search_input_scale(const std::vector<at::Tensor>& weights, const at::Tensor& calibration,
                                     const AwqConfig& config) {
  check_inputs(weights, calibration, config);
  const int64_t k = weights.front().size(1);
  at::Tensor x = calibration.detach().to(at::kFloat).reshape({-1, k});
  const at::Tensor x_mean = x.abs().mean(0);
  x = x.slice(0, 0, x.size(0), std::max<int64_t>(1, (x.size(0) + kLossRows - 1) / kLossRows));

  std::vector<at::Tensor> dense;
  for (const auto& w : weights) dense.push_back(w.detach());
  const at::Tensor all = at::cat(dense).to(at::kFloat);
  const at::Tensor w_mean = weight_mean(all, config);
  const at::Tensor reference = at::matmul(x, all.t());

  ScaleSearchResult best{at::ones({k}, at::kFloat), -1, std::numeric_limits<double>::infinity(), 0};
  for (int64_t i = 0; i < kScaleGrid; ++i) {
    const double r = static_cast<double>(i) / kScaleGrid;
    at::Tensor s = (x_mean.pow(r) / (w_mean.pow(1 - r) + 1e-4)).clamp_min(1e-4);
    s = (s / (s.max() * s.min()).sqrt()).nan_to_num(1.0, 1.0, 1.0);
    const double loss = output_error(dense, s, x, reference, config);
    if (loss < best.loss) best = {s, r, loss, 0};
  }
  best.unscaled_loss = output_error(dense, at::Tensor(), x, reference, config);
  if (best.unscaled_loss < best.loss) best = {at::ones({k}, at::kFloat), -1, best.unscaled_loss, best.unscaled_loss};
  return best;
}

}  // namespace oft::awq
