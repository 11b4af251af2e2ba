#pragma once
// An AWQ-quantized linear layer, holding the checkpoint's tensors under their checkpoint names
// (GPTQModel's AwqTorchLinear / AwqGEMVLinear buffers):
//   gemm: qweight int32 (in, ceil(out*bits/32))  qzeros int32 (groups, ceil(out*bits/32))  scales (groups, out)
//   gemv: qweight int32 (out, in/8)              qzeros int32 (out, W)   scales (out, 8W)  (awq_packing.h)
//   bias (out), optional. scales are fp16 in checkpoints and set the dtype the layer computes in.
// Zero points are the integer zero (no -1 offset as in GPTQ v1); W = (code - zero) * scale, rounded
// once to the scales dtype. All tensors are buffers (Module::to moves them all): nothing here trains. On the CPU
// the weight comes from the CPU kernels (awq_dequant_cpu.h, awq_gemv_cpu.h); on a CUDA device from the companion's
// kernel (awq_cuda_ops.h) when the plugin was built with CUDA; on any other device from LibTorch operators
// (awq_dequant_operators.h); the same values everywhere.
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "awq_config.h"
#include "oft/sdk/dequantized_weight_cache.h"
#include "oft/sdk/linear_format.h"

namespace oft::awq {

struct AwqTensors {
  at::Tensor qweight, qzeros, scales, bias;  // bias undefined when none
};

class AwqLinear final : public sdk::LinearModule {
 public:
  // Checks every tensor against the shape and config (std::invalid_argument naming the tensor); all on one device.
  AwqLinear(AwqTensors tensors, const sdk::LinearShape& shape, const AwqConfig& config);

  const AwqConfig& config() const { return config_; }
  const at::Tensor& qweight() const { return qweight_; }
  const at::Tensor& qzeros() const { return qzeros_; }
  const at::Tensor& scales() const { return scales_; }
  const at::Tensor& bias() const { return bias_; }

  // Integer zero points (groups, out) uint8, whatever the layout.
  at::Tensor zeros() const;
  // W (out, in) in the scales dtype.
  at::Tensor dequantize() const;

  // Keeping the dequantized weight saves the unpacking on every forward but holds a dense fp32 copy
  // (4 bytes/weight beside the ~0.5 of 4-bit codes), so it is off unless asked for (plugin config
  // "cache_dequantized": true). The cache is refilled when qweight, qzeros or scales change (storage or
  // in-place version); with it on, forward must not run concurrently on one layer.
  void set_cache_dequantized(bool enabled);

  // sdk::LinearModule / LinearBase
  std::string format() const override { return "awq"; }
  std::string type_name() const override { return "AwqLinear"; }
  int64_t in_features() const override { return in_features_; }
  int64_t out_features() const override { return out_features_; }
  c10::ScalarType compute_dtype() const override { return scales_.scalar_type(); }
  c10::Device device() const override { return qweight_.device(); }
  // y = x W^T + b from the weight rounded to the scales dtype, returning the input's dtype; x must be on the layer's
  // device. On the CPU the product runs in fp32, elsewhere in the scales dtype (one GEMM, as gptq on CUDA).
  at::Tensor forward(const at::Tensor& x) override;
  sdk::MergePolicy merge_policy() const override;
  at::Tensor dense_weight() override { return dequantize(); }
  // Requantizes `weight` (on any device) with round-to-nearest at the layer's bits, group size, zero point and
  // layout, on a CPU copy; the results are copied into the layer's tensors where they are.
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  // W (out, in) in fp32, each value rounded to the scales dtype, by the CPU kernels (gemm: a transposed view of W^T,
  // which the matmul reads without a copy).
  at::Tensor dequantize_float() const;
  // W (out, in) in the scales dtype on the tensors' device (gemm: a transposed view): by the CUDA kernel on a CUDA
  // device (when built), else by LibTorch operators.
  at::Tensor dequantize_on_device() const;
  // The CPU dequantizers' operands: contiguous qweight; zeros and scales in fp32, (groups, out) for gemm and
  // (out, groups) for gemv.
  struct CpuOperands {
    at::Tensor qweight, zeros, scales;
  };
  CpuOperands cpu_operands() const;
  // Forward for a few tokens: W dequantized a tile at a time (sdk::tiled_dequantized_linear), or for one token of
  // the 4-bit gemm layout straight from the packed words where the CPU allows (awq_gemv_cpu.h).
  at::Tensor tiled_forward(const at::Tensor& x) const;
  // The dense weight forward multiplies with (cached if enabled and still current): dequantize_float() on the CPU,
  // dequantize_on_device() elsewhere.
  at::Tensor compute_weight();

  AwqConfig config_;
  int64_t in_features_, out_features_;
  at::Tensor qweight_, qzeros_, scales_, bias_;
  sdk::DequantizedWeightCache weight_cache_;
};

// The checkpoint tensors for a quantized weight in the config's layout (scales in their given dtype).
AwqTensors pack_tensors(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& zeros,
                        const AwqConfig& config);

}  // namespace oft::awq
