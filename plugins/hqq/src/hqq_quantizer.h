#pragma once
// HQQ's quantizer as hqq 0.2.8 runs it on the CPU (hqq/core/quantize.py Quantizer.quantize with
// optimize_weights_proximal_legacy from hqq/core/optimize.py): min/max grid per group, then the
// half-quadratic proximal solver moves the zero points (fp32; lp_norm 0.7, beta 10 kept fixed, at most
// 20 iterations, stop at the first that does not lower the mean error, without rollback). Every step
// uses the same ATen operations in the same order as hqq, so the result is hqq's up to the vectorized
// reductions' summation order.
#include <ATen/core/Tensor.h>

#include "hqq_config.h"
#include "hqq_state.h"

namespace oft::hqq {

struct HqqQuantized {
  at::Tensor codes;  // float32 (rows, cols) integer codes in [0, max_code]
  at::Tensor scale;  // float32: the dequantization scale (1 / hqq's working inverse scale)
  at::Tensor zero;   // float32
};

// `weight` (out, in), any floating dtype (quantized from its float32 values, as hqq does), on its device (LibTorch
// operators; on the CPU the results are hqq's CPU ones).
HqqQuantized quantize_hqq(const at::Tensor& weight, const HqqSettings& settings);

// The solver alone: the zero points after optimize_weights_proximal_legacy for the reshaped float32
// weight `w`, working inverse scale `inverse_scale` and initial `zero`.
at::Tensor optimize_zero_proximal(const at::Tensor& w, const at::Tensor& inverse_scale, at::Tensor zero,
                                  int64_t max_code, int axis);

// A layer's state for a float weight (out, in) and bias (undefined when none): quantized with
// `settings`, packed, scale/zero/bias stored in `compute_dtype` (and W_q viewed as it with view_as_float). The weight
// is quantized on a CPU copy, so the values are hqq's CPU results wherever it is; the state's tensors are on the
// weight's device.
HqqState quantize_state(const at::Tensor& weight, const at::Tensor& bias, const HqqSettings& settings,
                        at::ScalarType compute_dtype);

}  // namespace oft::hqq
