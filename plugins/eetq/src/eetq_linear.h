#pragma once
// An EETQ int8 weight-only linear layer (transformers' EetqLinear), holding the plain codes rather than the
// GPU layout they are stored in (the format converts on load and save):
//   weight         int8 (in, out)  code q[k, n]: W[n, k] = q[k, n] * weight_scales[n]
//   weight_scales  (out)           float16 or float32; also the dtype the layer computes in
//   bias           (out), optional
// All are buffers named as transformers names the checkpoint's tensors (Module::to moves them all): nothing here
// trains. On the CPU the weight comes from the CPU kernels (eetq_quantizer.h, eetq_gemv_cpu.h); on another device
// from LibTorch operators (eetq_dequant_operators.h), the same values.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "oft/sdk/dequantized_weight_cache.h"
#include "oft/sdk/linear_format.h"

namespace oft::eetq {

// Why merging rewrites the weight (shown as a warning).
inline constexpr const char* kRequantizeReason =
    "merging re-quantizes the rotated weight to int8 per output channel (EETQ's quantizer): outputs change by "
    "int8 rounding";

// Checks a checkpoint's int8 "weight" (stored layout or plain codes: same dtype and shape) against the layer's
// shape: std::invalid_argument naming the tensor.
void check_weight(const at::Tensor& weight, const sdk::LinearShape& shape);

class EetqLinear final : public sdk::LinearModule {
 public:
  // `codes`: plain int8 codes (in, out), taken over (merging rewrites them in place). Checks every tensor against
  // the shape (std::invalid_argument naming it); all on one device.
  EetqLinear(at::Tensor codes, at::Tensor weight_scales, at::Tensor bias, const sdk::LinearShape& shape);

  const at::Tensor& codes() const { return codes_; }
  const at::Tensor& weight_scales() const { return scales_; }
  const at::Tensor& bias() const { return bias_; }
  // W (out, in) = q * scale in the scales dtype.
  at::Tensor dequantize() const;

  // Keeping the dequantized weight (fp32, 4 bytes/weight beside the 1 byte/weight of codes) saves the
  // dequantization that dominates a forward on few tokens, so it is off unless asked for (plugin config
  // "cache_dequantized": true). The cache is refilled when the codes or scales change (storage or in-place
  // version, e.g. a merge); with it on, forward must not run concurrently on one layer.
  void set_cache_dequantized(bool enabled);

  // sdk::LinearModule / LinearBase
  std::string format() const override { return "eetq"; }
  std::string type_name() const override { return "EetqLinear"; }
  int64_t in_features() const override { return in_features_; }
  int64_t out_features() const override { return out_features_; }
  c10::ScalarType compute_dtype() const override { return scales_.scalar_type(); }
  c10::Device device() const override { return codes_.device(); }
  // y = x W^T + b from the dequantized weight, returned in the input's dtype; x must be on the layer's device. On
  // the CPU the product runs in fp32, elsewhere in the scales dtype (one GEMM, as gptq on CUDA).
  at::Tensor forward(const at::Tensor& x) override;
  sdk::MergePolicy merge_policy() const override { return {sdk::MergeMode::Requantize, kRequantizeReason}; }
  at::Tensor dense_weight() override { return dequantize(); }
  // Quantizes `weight` (out, in, on any device) per channel on a CPU copy into this layer's codes and scales, where
  // they are (scales keep their dtype).
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  // W^T (in, out), from the cache when enabled and still current: fp32 from the CPU kernel on the CPU, the scales
  // dtype from LibTorch operators elsewhere.
  at::Tensor compute_weight();

  int64_t in_features_, out_features_;
  at::Tensor codes_, scales_, bias_;
  sdk::DequantizedWeightCache weight_cache_;
};

}  // namespace oft::eetq
