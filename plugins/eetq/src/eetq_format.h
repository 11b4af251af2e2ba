#pragma once
// The "eetq" LinearFormat: reads EetqLinear from transformers' EETQ checkpoint tensors (weight in EETQ's
// arch-80 layout, weight_scales, bias) under a quantization_config naming quant_method "eetq", quantizes
// float weights with EETQ's per-channel int8 quantizer, and writes the tensors back in the same layout.
#include <memory>
#include <string>
#include <vector>

#include "eetq_linear.h"
#include "oft/sdk/linear_format.h"

namespace oft::eetq {

class EetqFormat final : public sdk::LinearFormat {
 public:
  // cache_dequantized: whether layers it makes keep their dequantized weight (see EetqLinear).
  explicit EetqFormat(bool cache_dequantized = false) : cache_dequantized_(cache_dequantized) {}

  std::string name() const override { return "eetq"; }
  // An int8 "weight" and "weight_scales", in a model whose quantization_config names quant_method "eetq".
  bool recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const override;
  // Undoes the arch-80 layout: the layer holds the plain codes.
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const override;
  // Scales (and the compute dtype) in float16 for a float16 weight, float32 otherwise; bias kept as given. A weight on
  // another device is quantized on a CPU copy and the layer's tensors put on that device.
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const override;
  std::string quantization_config(const std::string& options_json) const override;
  // Reapplies the arch-80 layout, so save(load(x)) == x byte for byte.
  sdk::TensorMap save(const sdk::LinearModule& layer) const override;
  // "eetq": no calibration.
  std::vector<sdk::QuantizeMethod> quantize_methods() const override;
  // "": PEFT refuses no EETQ model as a whole (only its layers, which cannot merge there).
  std::string model_merge_refusal(const std::string& quantization_config_json) const override;

 private:
  bool cache_dequantized_;
};

}  // namespace oft::eetq
