#include "awq_quantizer.h"

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace oft::awq {
namespace {

constexpr int64_t kClipGrid = 20, kShrinkSteps = 10, kSampleRows = 512;

void check_weight(const at::Tensor& weight, const AwqConfig& config) {
  if (weight.dim() != 2 || !at::isFloatingType(weight.scalar_type()))
    throw std::invalid_argument("awq: weight must be a floating (out_features, in_features) matrix");
  if (!weight.device().is_cpu())
    throw std::invalid_argument("awq: weight is on " + weight.device().str() +
                                "; the quantizer runs on CPU tensors (the format quantizes a CPU copy)");
  const int64_t k = weight.size(1);
  if (config.group_size != -1 && k % config.group_size != 0)
    throw std::invalid_argument("awq: option group_size " + std::to_string(config.group_size) +
                                " must divide in_features " + std::to_string(k));
}

struct Grid {
  at::Tensor scales, zeros;  // (rows, 1) in the weight's dtype
};

// `w` is (rows, group): one grid per row, in w's dtype.
Grid find_grid(const at::Tensor& w, const AwqConfig& config) {
  if (config.zero_point) {
    const double max_int = static_cast<double>((int64_t{1} << config.bits) - 1);
    at::Tensor max_val = std::get<0>(w.max(1, true)), min_val = std::get<0>(w.min(1, true));
    at::Tensor scales = (max_val - min_val).clamp_min(1e-5) / max_int;
    return {scales, (-at::round(min_val / scales)).clamp_(0, max_int)};
  }
  const double max_int = static_cast<double>((int64_t{1} << (config.bits - 1)) - 1);
  at::Tensor scales = std::get<0>(w.abs().max(1, true)).clamp_min(1e-5) / max_int;
  return {scales, at::Tensor()};
}

// Integer codes of the grid, as int64 in [0, 2^bits).
at::Tensor to_codes(const at::Tensor& w, const Grid& grid, const AwqConfig& config) {
  if (config.zero_point)
    return at::clamp(at::round(w / grid.scales) + grid.zeros, 0, static_cast<double>((int64_t{1} << config.bits) - 1))
        .to(at::kLong);
  const int64_t half = int64_t{1} << (config.bits - 1);
  return at::clamp(at::round(w / grid.scales), static_cast<double>(-half), static_cast<double>(half - 1))
             .to(at::kLong) +
         half;
}

// The weight the grid gives back, in w's dtype (AWQ's pseudo-quantization).
at::Tensor pseudo_quantize(const at::Tensor& w, const AwqConfig& config) {
  Grid grid = find_grid(w, config);
  at::Tensor codes = to_codes(w, grid, config).to(w.scalar_type());
  at::Tensor zeros = config.zero_point ? grid.zeros : at::full_like(grid.scales, 1 << (config.bits - 1));
  return (codes - zeros) * grid.scales;
}

}  // namespace

QuantizedWeight quantize_rtn(const at::Tensor& weight, const AwqConfig& config, at::ScalarType scales_dtype) {
  check_weight(weight, config);
  const int64_t n = weight.size(0), k = weight.size(1), gs = config.effective_group_size(k);
  at::Tensor w = weight.detach().reshape({n * (k / gs), gs});  // one row per (output, group)
  Grid grid = find_grid(w, config);
  QuantizedWeight result;
  result.codes = to_codes(w, grid, config).view({n, k});
  result.scales = grid.scales.view({n, k / gs}).to(scales_dtype);
  result.zeros = config.zero_point ? grid.zeros.to(at::kLong).view({n, k / gs})
                                   : at::full({n, k / gs}, int64_t{1} << (config.bits - 1), at::kLong);
  return result;
}

at::Tensor pseudo_quantize_rtn(const at::Tensor& weight, const AwqConfig& config) {
  check_weight(weight, config);
  const int64_t n = weight.size(0), k = weight.size(1), gs = config.effective_group_size(k);
  return pseudo_quantize(weight.detach().reshape({n * (k / gs), gs}), config).view({n, k});
}

at::Tensor search_clip(const at::Tensor& weight, const at::Tensor& calibration, const AwqConfig& config) {
  check_weight(weight, config);
  const int64_t n = weight.size(0), k = weight.size(1), gs = config.effective_group_size(k), groups = k / gs;
  if (!calibration.defined() || calibration.size(-1) != k || calibration.numel() == 0)
    throw std::invalid_argument("awq: calibration must hold input activations (..., " + std::to_string(k) +
                                "); the clipping search needs data (use round-to-nearest without it)");
  at::Tensor x = calibration.detach().to(at::kFloat).reshape({-1, k});
  x = x.slice(0, 0, x.size(0), std::max<int64_t>(1, x.size(0) / kSampleRows));
  const int64_t tokens = x.size(0);
  at::Tensor xg = x.view({tokens, groups, gs}).permute({1, 0, 2});         // (groups, tokens, gs)
  at::Tensor w = weight.detach().to(at::kFloat).reshape({n, groups, gs});  // (out, groups, gs)
  // Each group's share of the outputs, (groups, tokens, out), as one batched matmul per candidate.
  at::Tensor group_output = at::bmm(xg, w.permute({1, 2, 0}));
  at::Tensor org_max = w.abs().amax(2, true);  // (out, groups, 1)

  std::vector<at::Tensor> errors{at::full({n, groups}, std::numeric_limits<float>::infinity())};
  std::vector<at::Tensor> bounds{org_max.squeeze(2)};
  for (int64_t i = 0; i < kShrinkSteps; ++i) {
    at::Tensor max_val = org_max * (1.0 - static_cast<double>(i) / kClipGrid);
    at::Tensor clamped = at::clamp(w, -max_val, max_val);
    at::Tensor q = pseudo_quantize(clamped.reshape({n * groups, gs}), config).view({n, groups, gs});
    at::Tensor diff = at::bmm(xg, q.permute({1, 2, 0})) - group_output;  // (groups, tokens, out)
    errors.push_back(diff.pow(2).mean(1).t().nan_to_num(std::numeric_limits<float>::infinity()));
    bounds.push_back(max_val.squeeze(2));
  }
  // The first smallest error wins (ties keep the larger bound, as the library's argmin does).
  at::Tensor best = at::stack(errors).argmin(0, true);
  return at::stack(bounds).gather(0, best).squeeze(0);
}

QuantizedWeight quantize_awq(const at::Tensor& weight, const at::Tensor& calibration, const AwqConfig& config,
                             at::ScalarType scales_dtype) {
  at::Tensor bound = search_clip(weight, calibration, config);  // (out, groups)
  const int64_t n = weight.size(0), k = weight.size(1), groups = bound.size(1);
  at::Tensor limit = bound.to(weight.scalar_type()).unsqueeze(2);
  at::Tensor clamped = at::clamp(weight.detach().view({n, groups, k / groups}), -limit, limit).view({n, k});
  return quantize_rtn(clamped, config, scales_dtype);
}

}  // namespace oft::awq
