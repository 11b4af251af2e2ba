#pragma once
// The two bitsandbytes formats: loaders for the tensors bitsandbytes / transformers save, quantizers from
// float weights, and savers that write the same keys back.
#include <string>
#include <vector>

#include "oft/sdk/linear_format.h"

namespace oft::bnb {

// LLM.int8: "weight" (int8), "SCB", "weight_format" (0 = row), "bias".
class Int8Format final : public sdk::LinearFormat {
 public:
  std::string name() const override;
  bool recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const override;
  std::string quantization_config(const std::string& options_json) const override;
  sdk::TensorMap save(const sdk::LinearModule& layer) const override;
  // "bnb-int8".
  std::vector<sdk::QuantizeMethod> quantize_methods() const override;
  std::string model_merge_refusal(const std::string&) const override { return ""; }  // PEFT merges bnb models
};

// NF4 / FP4: "weight" (packed), "weight.absmax", "weight.quant_map", nested "weight.nested_absmax" and
// "weight.nested_quant_map", "weight.quant_state.bitsandbytes__<nf4|fp4>" (JSON as uint8), "bias".
class FourBitFormat final : public sdk::LinearFormat {
 public:
  std::string name() const override;
  bool recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const override;
  std::string quantization_config(const std::string& options_json) const override;
  sdk::TensorMap save(const sdk::LinearModule& layer) const override;
  // "bnb-nf4" and "bnb-fp4".
  std::vector<sdk::QuantizeMethod> quantize_methods() const override;
  std::string model_merge_refusal(const std::string&) const override { return ""; }  // PEFT merges bnb models
};

}  // namespace oft::bnb
