#pragma once
// An HQQ-quantized linear layer (hqq's HQQLinear), holding its checkpoint tensors as buffers under their
// state-dict names: W_q (packed codes), scale, zero, bias. The meta data (bits, group size, axis,
// packing, compute dtype, ...) is plain state, written back as tensors by the format.
//
// Merging requantizes: dequantize, rotate, and quantize again with the layer's own settings (HQQ's
// optimizer, as PEFT's HqqBackend does), keeping the bias (which PEFT 0.21.2 drops).
//
// On the CPU the plugin's kernels compute (hqq_dequant_cpu, the code row product, tiles); on a CUDA device the weight
// is dequantized by the companion's kernel (hqq_cuda_ops.h) when the plugin was built with CUDA, on any other device
// by LibTorch operators (hqq_dequant_operators), the same values everywhere, and multiplied in its dtype.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "hqq_state.h"
#include "oft/sdk/dequantized_weight_cache.h"
#include "oft/sdk/linear_format.h"

namespace oft::hqq {

inline constexpr const char* kRequantizeReason =
    "HQQ requantizes the rotated weight with the layer's settings (nbits, group size, axis); outputs change by "
    "the quantization error";

class HqqLinear final : public sdk::LinearModule {
 public:
  explicit HqqLinear(HqqState state);

  const HqqMeta& meta() const { return meta_; }
  // The state as HQQLinear.state_dict() would write it now.
  HqqState state() const;

  // The (rows, cols) integer codes in the compute dtype (hqq's unpack, 3-bit padding dropped).
  at::Tensor codes() const;
  // W (out, in) = (codes - zero) * scale in the compute dtype, as hqq's Quantizer.dequantize, on the layer's device
  // (by the CUDA kernel on a CUDA device when built, else by LibTorch operators off the CPU).
  at::Tensor dequantize() const;

  // Keeping the dequantized weight saves the unpacking on every forward (hqq's PyTorch backend does it
  // every call) but holds a dense copy beside the packed codes (fp32 on the CPU, the compute dtype on other
  // devices), so it is off unless asked for
  // (plugin config "cache_dequantized": true). The cache is refilled when W_q, scale or zero change
  // (storage or in-place version, e.g. a merge); with it on, forward must not run concurrently on one layer.
  void set_cache_dequantized(bool enabled);

  // sdk::LinearModule / LinearBase
  std::string format() const override { return "hqq"; }
  std::string type_name() const override { return "HQQLinear"; }
  int64_t in_features() const override { return meta_.in_features; }
  int64_t out_features() const override { return meta_.out_features; }
  c10::ScalarType compute_dtype() const override { return meta_.compute_dtype; }
  c10::Device device() const override { return W_q_.device(); }
  // y = x W^T + b from the compute-dtype weight, returned in x's dtype, which must be on the layer's device. On the
  // CPU computed in fp32 (hqq multiplies in the compute dtype: for fp16/bf16 layers the two differ by that dtype's
  // rounding); on other devices in the compute dtype, as hqq does.
  at::Tensor forward(const at::Tensor& x) override;
  sdk::MergePolicy merge_policy() const override { return {sdk::MergeMode::Requantize, kRequantizeReason}; }
  at::Tensor dense_weight() override { return dequantize(); }
  // Quantizes `weight` (out, in, on any device) with this layer's settings and compute dtype, on a CPU copy; the
  // bias stays.
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  // The weight forward multiplies with (cached if enabled and still current): fp32 on the CPU, dequantize()'s
  // dtype elsewhere.
  at::Tensor compute_weight();
  // W_q as the packing's integer dtype (it may be stored viewed as float).
  at::Tensor packed() const;
  // Code rows [begin, end) dequantized into `out` (float, (end - begin, cols)): the values dequantize() has, as
  // float. zero and scale are those rows' (or broadcast to them).
  void dequantize_rows_into(const at::Tensor& packed, int64_t begin, int64_t end, const at::Tensor& zero,
                            const at::Tensor& scale, const at::Tensor& out) const;
  // dequantize()'s values as float (out, in), by the CPU kernels (CPU layers only).
  at::Tensor dequantize_float() const;

  HqqMeta meta_;
  at::Tensor W_q_, scale_, zero_, bias_;
  sdk::DequantizedWeightCache weight_cache_;
};

}  // namespace oft::hqq
