#pragma once
// A GPTQ-quantized linear layer, holding the checkpoint's tensors under their checkpoint names:
//   qweight int32 (in*bits/32, out)   codes packed along the input dimension
//   qzeros  int32 (groups, out*bits/32) zero points packed along the output dimension (v1 or v2)
//   scales  (groups, out)             fp16 in checkpoints; also the dtype the layer computes in
//   g_idx   int32 (in)                group of each input channel (a permutation map under desc_act)
//   bias    (out), optional
// All are buffers (as in GPTQModel's QuantLinear): nothing here trains. `to(cuda)` moves them packed; on CUDA
// the weight is dequantized by a kernel (in the scales dtype) and multiplied by one GEMM.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "gptq_config.h"
#include "oft/sdk/dequantized_weight_cache.h"
#include "oft/sdk/linear_format.h"
#include "oft/sdk/tensor_stamp.h"

namespace oft::gptq {

// PEFT's text (OFTModel._check_merge_allowed) for merging into a GPTQ model.
inline constexpr const char* kMergeRefused = "Cannot merge OFT layers when the model is gptq quantized";

struct GptqTensors {
  at::Tensor qweight, qzeros, scales, g_idx, bias;  // bias undefined when none
};

class GptqLinear final : public sdk::LinearModule {
 public:
  // Checks every tensor against the shape and config (std::invalid_argument naming the tensor).
  GptqLinear(GptqTensors tensors, const sdk::LinearShape& shape, const GptqConfig& config);

  const GptqConfig& config() const { return config_; }
  const at::Tensor& qweight() const { return qweight_; }
  const at::Tensor& qzeros() const { return qzeros_; }
  const at::Tensor& scales() const { return scales_; }
  const at::Tensor& g_idx() const { return g_idx_; }
  const at::Tensor& bias() const { return bias_; }

  // Integer codes (in, out) uint8 and zero points (groups, out), decoded from the packed tensors.
  at::Tensor codes() const;
  at::Tensor zeros() const;
  // W (out, in) = scales[g_idx[k], n] * (code - zero), rounded once to the scales dtype like
  // GPTQModel's dequantization (the integer difference times an fp16 scale is exact in fp32).
  at::Tensor dequantize() const;

  // Keeping the dequantized weight saves the unpacking on every forward but holds a dense copy
  // (4 bytes/weight on CPU, where we compute in fp32) beside the ~0.5 bytes/weight of 4-bit codes,
  // so it is off unless asked for (plugin config "cache_dequantized": true). The cache is refilled
  // when qweight, qzeros, scales or g_idx change (storage or in-place version); with it on, forward
  // must not run concurrently on one layer.
  void set_cache_dequantized(bool enabled);

  // sdk::LinearModule / LinearBase
  std::string format() const override { return "gptq"; }
  std::string type_name() const override { return "GptqLinear"; }
  int64_t in_features() const override { return in_features_; }
  int64_t out_features() const override { return out_features_; }
  c10::ScalarType compute_dtype() const override { return scales_.scalar_type(); }
  c10::Device device() const override { return qweight_.device(); }
  // y = x W^T + b. fp16/bf16 layers compute in fp32 on CPU (where half matmuls are slow and
  // inexact) and return the input's dtype.
  at::Tensor forward(const at::Tensor& x) override;
  sdk::MergePolicy merge_policy() const override { return {sdk::MergeMode::Refused, kMergeRefused}; }
  at::Tensor dense_weight() override { return dequantize(); }
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  // W^T (in, out), contiguous, in the scales dtype; the _float one holds the same values in fp32.
  at::Tensor dequantize_kn() const;
  at::Tensor dequantize_float_kn() const;
  // The dense weight in the dtype forward multiplies in (cached if enabled and still current).
  at::Tensor compute_weight();
  // zeros(), decoded once and kept while qzeros is unchanged (one byte per group and output): decoding is
  // tens of tensor operations (about 160 at 3 bits), each a kernel launch on CUDA.
  at::Tensor current_zeros() const;
  // check_group_indices for g_idx when it has changed since the last check (on a device the check reads it back
  // to the host, a synchronization). Inference tensors have no version counter: for them, at every call, as
  // current_zeros decodes at every call.
  void check_g_idx_when_changed() const;

  GptqConfig config_;
  int64_t in_features_, out_features_;
  at::Tensor qweight_, qzeros_, scales_, g_idx_, bias_;
  sdk::DequantizedWeightCache weight_cache_;
  mutable std::mutex decoded_mutex_;  // forward may run concurrently (without the weight cache)
  mutable sdk::DequantizedWeightCache zeros_cache_;
  mutable std::optional<sdk::TensorStamp> checked_g_idx_;
};

}  // namespace oft::gptq
