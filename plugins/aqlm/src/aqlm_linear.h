#pragma once
// An AQLM-quantized linear layer (aqlm.QuantizedLinear), holding the checkpoint's tensors under their names:
//   codes      int8/int16 [N/og, K/ig, C]  codes stored signed (pack_int_data), read mod 2^B
//   codebooks  [C, 2^B, og, ig]            in the model dtype, which is also the dtype the layer computes in
//   scales     [N/og, 1, 1, 1]             one scale per output group
//   bias       [N], optional
// All are buffers: nothing here trains. On the CPU the layer computes with its own kernels; on a CUDA device the
// weight is dequantized by the companion's kernel (aqlm_cuda_ops.h) when the plugin was built with CUDA, on any other
// device by LibTorch operators (aqlm_dequant_operators.h): the same dequantized weight everywhere.
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "aqlm_config.h"
#include "oft/sdk/dequantized_weight_cache.h"
#include "oft/sdk/linear_format.h"

namespace oft::aqlm {

// Why merging is refused: PEFT's words for aqlm layers, and the reason.
inline constexpr const char* kMergeRefused =
    "Merging/unmerging is not available for aqlm layers: their codebooks and codes are fitted to the original "
    "weights, so a rotated weight cannot be stored without quantizing the layer again";

struct AqlmTensors {
  at::Tensor codes, codebooks, scales, bias;  // bias undefined when none
};

class AqlmLinear final : public sdk::LinearModule {
 public:
  // Checks every tensor against the shape and config (std::invalid_argument naming the tensor); the tensors may be
  // on any one device.
  AqlmLinear(AqlmTensors tensors, const sdk::LinearShape& shape, const AqlmConfig& config);

  const AqlmConfig& config() const { return config_; }
  const at::Tensor& codes() const { return codes_; }
  const at::Tensor& codebooks() const { return codebooks_; }
  const at::Tensor& scales() const { return scales_; }
  const at::Tensor& bias() const { return bias_; }

  // int64 codes [N/og, K/ig, C] in [0, 2^B).
  at::Tensor unpacked_codes() const;
  // W (out, in) in the codebooks' dtype, equal to aqlm's _dequantize_weight on CPU, on the layer's device (by the
  // CUDA kernel on a CUDA device when built, else by LibTorch operators off the CPU).
  at::Tensor dequantize() const;

  // Keeping the dequantized weight saves the codebook lookups on every forward but holds a dense copy (fp32 on the
  // CPU, 4 bytes/weight beside the ~0.25 of 2x8 codes; the codebooks' dtype elsewhere), so it is off unless asked for
  // (plugin config "cache_dequantized": true). The cache is refilled when codes, codebooks or scales change (storage or
  // in-place version); with it on, forward must not run concurrently on one layer.
  void set_cache_dequantized(bool enabled);

  // sdk::LinearModule / LinearBase
  std::string format() const override { return "aqlm"; }
  std::string type_name() const override { return "AqlmLinear"; }
  int64_t in_features() const override { return in_features_; }
  int64_t out_features() const override { return out_features_; }
  c10::ScalarType compute_dtype() const override { return codebooks_.scalar_type(); }
  c10::Device device() const override { return codebooks_.device(); }
  // y = x W^T + b returned in the input's dtype; x must be on the layer's device. On the CPU multiplied in fp32 (the
  // weight holds values of the codebooks' dtype), like aqlm's dequantize_gemm on CPU; elsewhere in the codebooks'
  // dtype, as dequantize_gemm's F.linear there.
  at::Tensor forward(const at::Tensor& x) override;
  sdk::MergePolicy merge_policy() const override { return {sdk::MergeMode::Refused, kMergeRefused}; }
  at::Tensor dense_weight() override { return dequantize(); }
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  // The CPU kernels' W in fp32 (holding the codebooks' dtype's values).
  at::Tensor dequantize_float() const;
  // The weight forward multiplies with (cached if enabled and still current): dequantize_float() on the CPU,
  // dequantize() elsewhere.
  at::Tensor compute_weight();
  // Forward for a few tokens: W dequantized a tile of output groups at a time (sdk::tiled_dequantized_linear).
  at::Tensor tiled_forward(const at::Tensor& x) const;
  // Forward for a few tokens straight from the codes, W never formed (aqlm_codeword_product.h).
  at::Tensor codeword_forward(const at::Tensor& x) const;

  AqlmConfig config_;
  int64_t in_features_, out_features_;
  at::Tensor codes_, codebooks_, scales_, bias_;
  sdk::DequantizedWeightCache weight_cache_;
};

}  // namespace oft::aqlm
