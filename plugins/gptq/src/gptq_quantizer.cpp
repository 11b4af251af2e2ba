#include "gptq_quantizer.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace oft::gptq {
namespace {

constexpr int64_t kBlock = 128;

// The min/max grid of one group: per output row, over the given columns (out, cols).
struct Grid {
  at::Tensor scale, zero;  // (out) float32; zero holds an integer value
};

Grid find_grid(const at::Tensor& w, const GptqConfig& config) {
  const double maxq = static_cast<double>(config.maxq());
  at::Tensor xmin = at::clamp_max(std::get<0>(w.min(1)), 0.0);
  at::Tensor xmax = at::clamp_min(std::get<0>(w.max(1)), 0.0);
  if (config.sym) {
    xmax = at::maximum(xmin.abs(), xmax);
    xmin = at::where(xmin < 0, -xmax, xmin);
  }
  at::Tensor flat = (xmin == 0).logical_and(xmax == 0);  // an all-zero row: any grid works
  xmin = at::where(flat, -1.0, xmin);
  xmax = at::where(flat, 1.0, xmax);
  at::Tensor scale = (xmax - xmin) / maxq;
  at::Tensor zero = config.sym ? at::full_like(scale, (maxq + 1) / 2) : at::round(-xmin / scale);
  return {scale, zero};
}

at::Tensor to_codes(const at::Tensor& w, const Grid& grid, const GptqConfig& config) {
  return at::clamp(at::round(w / grid.scale) + grid.zero, 0, static_cast<double>(config.maxq()));
}

at::Tensor from_codes(const at::Tensor& codes, const Grid& grid) { return grid.scale * (codes - grid.zero); }

void check_weight(const at::Tensor& weight, const GptqConfig& config) {
  if (weight.dim() != 2 || !at::isFloatingType(weight.scalar_type()))
    throw std::invalid_argument("gptq: weight must be a floating (out_features, in_features) matrix");
  const int64_t k = weight.size(1);
  if (config.group_size != -1 && (k % config.group_size != 0))
    throw std::invalid_argument("gptq: option group_size " + std::to_string(config.group_size) +
                                " must divide in_features " + std::to_string(k));
}

// Stacks per-group grids into (groups, out) tables.
void store_grids(QuantizedWeight& result, const std::vector<Grid>& grids) {
  std::vector<at::Tensor> scales, zeros;
  for (const Grid& g : grids) {
    scales.push_back(g.scale);
    zeros.push_back(g.zero);
  }
  result.scales = at::stack(scales);
  result.zeros = at::stack(zeros).to(at::kLong);
}

// U = upper Cholesky factor of (H + damp I)^-1, raising the damping while H is not positive definite.
at::Tensor inverse_factor(const at::Tensor& h, double damp_percent) {
  const double mean_diag = h.diagonal().mean().item<double>();
  for (double damp = damp_percent; damp < 1.0; damp += 0.01) {
    at::Tensor damped = h.clone();
    damped.diagonal().add_(damp * mean_diag);
    auto [lower, info] = at::linalg_cholesky_ex(damped);
    if (info.item<int64_t>() != 0) continue;
    auto [upper, info2] = at::linalg_cholesky_ex(at::cholesky_inverse(lower), /*upper=*/true);
    if (info2.item<int64_t>() == 0) return upper;
  }
  throw std::invalid_argument("gptq: the calibration Hessian is not positive definite even with damp_percent near 1");
}

}  // namespace

QuantizedWeight quantize_rtn(const at::Tensor& weight, const GptqConfig& config) {
  check_weight(weight, config);
  at::Tensor w = weight.detach().to(at::kFloat);
  const int64_t k = w.size(1), gs = config.effective_group_size(k);
  QuantizedWeight result;
  std::vector<Grid> grids;
  std::vector<at::Tensor> codes;
  for (int64_t start = 0; start < k; start += gs) {
    at::Tensor cols = w.narrow(1, start, gs);
    grids.push_back(find_grid(cols, config));
    codes.push_back(to_codes(cols, Grid{grids.back().scale.unsqueeze(1), grids.back().zero.unsqueeze(1)}, config));
  }
  store_grids(result, grids);
  result.codes = at::cat(codes, 1).t().to(at::kLong).contiguous();
  result.g_idx = at::arange(k, at::kInt).div(gs, "floor");
  return result;
}

QuantizedWeight quantize_gptq(const at::Tensor& weight, const at::Tensor& calibration, const GptqConfig& config) {
  check_weight(weight, config);
  const int64_t n_out = weight.size(0), k = weight.size(1), gs = config.effective_group_size(k);
  if (!calibration.defined() || calibration.size(-1) != k || calibration.numel() == 0)
    throw std::invalid_argument("gptq: calibration must hold input activations (..., " + std::to_string(k) +
                                "); GPTQ needs data (use round-to-nearest without it)");
  at::Tensor w = weight.detach().to(at::kFloat).clone();
  at::Tensor x = calibration.detach().to(at::kFloat).reshape({-1, k});
  at::Tensor h = x.t().mm(x).mul_(2.0 / static_cast<double>(x.size(0)));

  at::Tensor dead = h.diagonal() == 0;
  h.diagonal().masked_fill_(dead, 1.0);
  w.masked_fill_(dead.unsqueeze(0), 0.0);

  // Grids fixed before any update: one for the whole row (group_size -1), or static groups.
  std::vector<Grid> fixed;
  if (config.group_size == -1 || config.static_groups)
    for (int64_t start = 0; start < k; start += gs) fixed.push_back(find_grid(w.narrow(1, start, gs), config));

  at::Tensor perm = config.desc_act ? at::argsort(h.diagonal(), /*stable=*/true, /*dim=*/0, /*descending=*/true)
                                    : at::arange(k, at::kLong);
  if (config.desc_act) {
    w = w.index_select(1, perm);
    h = h.index_select(0, perm).index_select(1, perm);
  }
  at::Tensor u = inverse_factor(h, config.damp_percent);
  auto perm_of = perm.accessor<int64_t, 1>();

  at::Tensor codes = at::empty({n_out, k}, at::kFloat);  // in processing order
  std::vector<Grid> position_grids;                      // non-static groups, by processing position
  Grid grid;
  for (int64_t i1 = 0; i1 < k; i1 += kBlock) {
    const int64_t count = std::min(kBlock, k - i1);
    at::Tensor w1 = w.narrow(1, i1, count).clone();
    at::Tensor err1 = at::zeros({n_out, count}, at::kFloat);
    at::Tensor u1 = u.narrow(0, i1, count).narrow(1, i1, count);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t col = i1 + i;
      if (!fixed.empty()) {
        grid = fixed[(config.static_groups ? perm_of[col] : col) / gs];
      } else if (col % gs == 0) {
        // The group's grid from its current columns: updates from earlier blocks and, inside this
        // block, from earlier columns.
        at::Tensor group =
            at::cat({w1.narrow(1, i, std::min(gs, count - i)),
                     w.narrow(1, i1 + count, std::max<int64_t>(0, std::min(gs - (count - i), k - i1 - count)))},
                    1);
        grid = find_grid(group, config);
        position_grids.push_back(grid);
      }
      at::Tensor column = w1.select(1, i);
      at::Tensor c = to_codes(column, grid, config);
      codes.select(1, col).copy_(c);
      at::Tensor err = (column - from_codes(c, grid)) / u1[i][i];
      w1.narrow(1, i, count - i).sub_(err.unsqueeze(1) * u1.select(0, i).narrow(0, i, count - i).unsqueeze(0));
      err1.select(1, i).copy_(err);
    }
    if (i1 + count < k)
      w.narrow(1, i1 + count, k - i1 - count)
          .sub_(err1.mm(u.narrow(0, i1, count).narrow(1, i1 + count, k - i1 - count)));
  }

  QuantizedWeight result;
  store_grids(result, fixed.empty() ? position_grids : fixed);
  at::Tensor inverse = at::argsort(perm);
  result.codes = codes.index_select(1, inverse).t().to(at::kLong).contiguous();
  // g_idx: the natural group for fixed grids, else the group of the column's processing position.
  at::Tensor position = config.static_groups || config.group_size == -1 ? at::arange(k, at::kLong) : inverse;
  result.g_idx = position.div(gs, "floor").to(at::kInt);
  return result;
}

}  // namespace oft::gptq
