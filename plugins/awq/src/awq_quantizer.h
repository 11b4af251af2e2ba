#pragma once
// Quantizing a float weight to AWQ's grid: round-to-nearest exactly as GPTQModel's
// AWQProcessor.pseudo_quantize_tensor, and AWQ's activation-aware clipping search
// (AWQProcessor._compute_best_clip) in front of it.
//
// AWQ's per-input-channel scale s is searched separately (awq_scale_search.h): the host folds 1/s into
// the op before the layer and hands this quantizer W diag(s) and the inputs divided by s.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "awq_config.h"

namespace oft::awq {

struct QuantizedWeight {
  at::Tensor codes;   // (out, in) int64 in [0, 2^bits)
  at::Tensor scales;  // (out, groups) in the requested scales dtype
  at::Tensor zeros;   // (out, groups) int64; 2^(bits-1) when zero_point is false
};

// Round-to-nearest per (output row, group), computed in the weight's dtype as the library does:
//   zero_point: scale = clamp(max - min, 1e-5) / (2^b - 1), zero = clamp(-round(min / scale), 0, 2^b - 1),
//               code = clamp(round(w / scale) + zero, 0, 2^b - 1);
//   symmetric:  scale = clamp(max|w|, 1e-5) / (2^(b-1) - 1), code = clamp(round(w / scale), -2^(b-1),
//               2^(b-1) - 1) + 2^(b-1), zero = 2^(b-1).
// Scales are then stored in `scales_dtype` (fp16 in checkpoints).
QuantizedWeight quantize_rtn(const at::Tensor& weight, const AwqConfig& config, at::ScalarType scales_dtype);

// The weight (out, in) round-to-nearest gives back, in the weight's dtype (AWQ's pseudo-quantization,
// used to score candidates of the clipping and input scale searches).
at::Tensor pseudo_quantize_rtn(const at::Tensor& weight, const AwqConfig& config);

// AWQ's clipping search on calibration inputs (..., in): per output row and group, the bound
// max|w| * (1 - i/20), i = 0..9, whose round-to-nearest weight (clamped to +-bound) gives the smallest
// mean squared group output over at most 512 evenly strided input rows (fp32). Returns (out, groups).
at::Tensor search_clip(const at::Tensor& weight, const at::Tensor& calibration, const AwqConfig& config);

// The clipping search, the clamp, then round-to-nearest.
QuantizedWeight quantize_awq(const at::Tensor& weight, const at::Tensor& calibration, const AwqConfig& config,
                             at::ScalarType scales_dtype);

}  // namespace oft::awq
