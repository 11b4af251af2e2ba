#pragma once
// AWQ's activation-aware input scale (GPTQModel 7.7's AWQProcessor._search_best_scale and
// _compute_best_scale with duo_scaling): for the linears that read one input, per input channel
//   x_mean = mean |x| over the calibration tokens,
//   w_mean = mean over all their output rows of |w| / (max |w| of its quantization group + 1e-6),
// and for r = i/20, i = 0..19, the candidate s = clamp(x_mean^r / (w_mean^(1-r) + 1e-4), 1e-4),
// normalized by sqrt(max s * min s). Each candidate is scored by the mean squared error of the linears'
// outputs with round-to-nearest Q(W diag(s)) diag(1/s) against the float outputs; the first smallest
// error wins. The library scores the whole block behind the linears (attention, MLP); the SDK hands a
// quantizer only the linears, so their concatenated outputs are the target here.
//
// Beyond the library: s = 1 (plain round-to-nearest) is scored too and wins only when it is strictly
// better than every grid point (r = 0 is not s = 1 with duo scaling), so the chosen scale is never worse
// than no scale on the calibration data.
#include <vector>

#include <ATen/core/Tensor.h>

#include "awq_config.h"

namespace oft::awq {

struct ScaleSearchResult {
  at::Tensor scale;          // (in,) float32, positive
  double ratio = 0;          // the winning r, or -1 when s = 1 won
  double loss = 0;           // its output mean squared error on the calibration rows
  double unscaled_loss = 0;  // the same error with s = 1
};

// `weights`: float (out_i, in) matrices read from one input; `calibration`: inputs (..., in). Losses use
// at most 4096 evenly strided calibration rows (x_mean uses all). std::invalid_argument naming what is
// wrong for no weights, mismatched shapes, a group size that does not divide in, or no calibration.
ScaleSearchResult search_input_scale(const std::vector<at::Tensor>& weights, const at::Tensor& calibration,
                                     const AwqConfig& config);

}  // namespace oft::awq
