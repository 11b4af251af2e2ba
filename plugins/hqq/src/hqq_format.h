#pragma once
// The "hqq" LinearFormat: reads HqqLinear from HQQLinear.state_dict() tensors (self-describing: the meta
// data travels with each layer), quantizes float weights with HQQ's optimizer, and writes the tensors
// back. The model's quantization_config is transformers' HqqConfig.to_dict().
#include <memory>
#include <string>
#include <vector>

#include "hqq_state.h"
#include "oft/sdk/linear_format.h"

namespace oft::hqq {

class HqqFormat final : public sdk::LinearFormat {
 public:
  // cache_dequantized: whether layers it makes keep their dequantized weight (see HqqLinear).
  explicit HqqFormat(bool cache_dequantized = false) : cache_dequantized_(cache_dequantized) {}

  std::string name() const override { return "hqq"; }
  // W_q with hqq's meta tensors (nbits, shape, packing), whatever the quantization_config says.
  bool recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const override;
  // Computes in the weight's dtype (as transformers quantizes a model in its dtype); no calibration. A weight on
  // another device is quantized on a CPU copy (the same values), and the layer's tensors are on its device.
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const override;
  std::string quantization_config(const std::string& options_json) const override;
  sdk::TensorMap save(const sdk::LinearModule& layer) const override;
  // "hqq": {"nbits": 4, "group_size": 64, "axis": 1}.
  std::vector<sdk::QuantizeMethod> quantize_methods() const override;
  // PEFT merges into HQQ models: never refused.
  std::string model_merge_refusal(const std::string& quantization_config_json) const override;

 private:
  std::shared_ptr<sdk::LinearModule> made(HqqState state) const;

  bool cache_dequantized_;
};

}  // namespace oft::hqq
