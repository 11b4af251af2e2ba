#pragma once
// Quantizing a float weight: GPTQ (Frantar et al. 2022; AutoGPTQ / GPTQModel's procedure) and
// round-to-nearest on the same grid, the baseline GPTQ must beat.
#include <ATen/core/Tensor.h>

#include "gptq_config.h"

namespace oft::gptq {

struct QuantizedWeight {
  at::Tensor codes;   // (in, out) int64 in [0, 2^bits)
  at::Tensor scales;  // (groups, out) float32
  at::Tensor zeros;   // (groups, out) int64 integer zero points (2^(bits-1) when symmetric)
  at::Tensor g_idx;   // (in) int32 group of each input
};

// GPTQ on weight (out, in) with calibration inputs (..., in):
//   H = 2 X^T X / n; dead inputs (H_kk = 0) get H_kk = 1 and a zero weight column;
//   desc_act: process columns by decreasing H_kk; H += damp_percent * mean(diag H) * I (retried
//   with +0.01 while the Cholesky factorization fails); U = upper Cholesky factor of H^-1;
//   columns in blocks of 128: quantize a column, spread its error (w - q) / U_ii over the block's
//   later columns by U's row, then over the remaining columns once per block.
// Throws std::invalid_argument for shapes, dtypes or options it cannot take.
QuantizedWeight quantize_gptq(const at::Tensor& weight, const at::Tensor& calibration, const GptqConfig& config);

// Round-to-nearest with the same per-group min/max grid, inputs grouped in order.
QuantizedWeight quantize_rtn(const at::Tensor& weight, const GptqConfig& config);

}  // namespace oft::gptq
