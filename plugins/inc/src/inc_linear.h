#pragma once
// An INC FP8 linear layer (neural_compressor's PatchedLinear after QDQ conversion), holding its tensors as
// buffers (nothing here trains) named without dots; the format maps them to the checkpoint's names:
//   weight            fp8 (in, out)      float8_e4m3fn or float8_e5m2, transposed as INC stores it
//   bias              (out), optional
//   weight_scale      0-d or (out)       dequant_weights.scale (Gaudi mode: scale_weight); its dtype is the
//                                        hp dtype the layer computes in
//   input_scale       0-d                quant_input.scale (Gaudi mode: scale_input)
//   input_scale_inv   0-d                quant_input.scale_inv (QDQ names only)
//   weight_zero_point, input_zero_point  fp32 0-d zeros, only in INC's CONST scale format
// forward(x) = matmul(QDQ(x), dequantized W) + bias in the hp dtype, as INC computes it on CPU.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "inc_config.h"
#include "oft/sdk/dequantized_weight_cache.h"
#include "oft/sdk/linear_format.h"

namespace oft::inc {

// Which tensor names the checkpoint used: INC's CPU/QDQ mode or its Gaudi quant mode.
enum class Naming { Qdq, Gaudi };

struct IncTensors {
  at::Tensor weight, bias, weight_scale, input_scale, input_scale_inv, weight_zero_point, input_zero_point;
};

inline constexpr const char* kMergeWarning =
    "merging requantizes the FP8 weight with new weight scales (the input scale is kept): outputs change by "
    "FP8 rounding (PEFT 0.21.2 refuses to merge INC layers)";

class IncLinear final : public sdk::LinearModule {
 public:
  // Checks every tensor against the shape and config (std::invalid_argument naming the tensor); the tensors may be
  // on any one device. A missing input_scale or input_scale_inv is the other's reciprocal, as INC derives it.
  IncLinear(IncTensors tensors, const sdk::LinearShape& shape, const IncConfig& config, Naming naming);

  const IncConfig& config() const { return config_; }
  Naming naming() const { return naming_; }
  const at::Tensor& weight() const { return weight_; }
  const at::Tensor& bias() const { return bias_; }
  const at::Tensor& weight_scale() const { return weight_scale_; }
  const at::Tensor& input_scale() const { return input_scale_; }
  const at::Tensor& input_scale_inv() const { return input_scale_inv_; }
  const at::Tensor& weight_zero_point() const { return weight_zero_point_; }
  const at::Tensor& input_zero_point() const { return input_zero_point_; }

  // Keeping the dequantized weight (on the CPU fp32 holding the hp dtype's values, elsewhere the hp dtype) saves
  // converting the FP8 codes on every forward, which dominates at few tokens, but holds 4 bytes/weight (CPU) beside
  // the 1 of the codes, so it is off unless asked for (plugin config "cache_dequantized": true). Refilled when the
  // weight or its scale change; with it on, forward must not run concurrently on one layer.
  void set_cache_dequantized(bool enabled);

  // sdk::LinearModule / LinearBase
  std::string format() const override { return "inc_fp8"; }
  std::string type_name() const override { return "IncLinear"; }
  int64_t in_features() const override { return in_features_; }
  int64_t out_features() const override { return out_features_; }
  c10::ScalarType compute_dtype() const override { return weight_scale_.scalar_type(); }
  c10::Device device() const override { return weight_.device(); }
  // Returns the input's dtype; x must be on the layer's device. On the CPU the matmul runs in fp32 on the hp
  // dtype's values and is rounded to it once, as INC's bf16 matmul does (up to summation order; LibTorch's CPU
  // bf16 GEMM is about 200x slower than fp32 here). On other devices W is dequantized by LibTorch operators
  // (inc_dequant_operators.h) and the matmul runs in the hp dtype, as INC's does.
  at::Tensor forward(const at::Tensor& x) override;
  sdk::MergePolicy merge_policy() const override { return {sdk::MergeMode::Requantize, kMergeWarning}; }
  // (out, in) in the hp dtype.
  at::Tensor dense_weight() override;
  // Requantizes W (out, in) with new weight scales of the layer's kind (per tensor or per channel,
  // power of two unless maxabs_arbitrary); the input scale stays.
  void set_dense_weight(const at::Tensor& weight) override;

 private:
  IncConfig config_;
  Naming naming_;
  int64_t in_features_, out_features_;
  at::Tensor weight_, bias_, weight_scale_, input_scale_, input_scale_inv_, weight_zero_point_, input_zero_point_;
  // The dequantized weight (in, out) for forward, cached if enabled and still current: fp32 holding the hp dtype's
  // values on the CPU, the hp dtype on other devices.
  at::Tensor compute_weight();
  sdk::DequantizedWeightCache weight_cache_;
};

}  // namespace oft::inc
