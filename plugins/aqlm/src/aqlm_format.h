#pragma once
// The "aqlm" LinearFormat: reads AqlmLinear from checkpoint tensors (codes, codebooks, scales, bias),
// quantizes float weights with the native additive quantizer, and writes the tensors back.
#include <memory>
#include <string>
#include <vector>

#include "aqlm_config.h"
#include "aqlm_linear.h"
#include "aqlm_quantizer.h"
#include "oft/sdk/linear_format.h"

namespace oft::aqlm {

// A layer holding quantized weights (codes packed as aqlm stores them) and the bias in the storage dtype.
std::shared_ptr<AqlmLinear> make_layer(const AqlmWeights& weights, const at::Tensor& bias, const AqlmConfig& config);

class AqlmFormat final : public sdk::LinearFormat {
 public:
  // cache_dequantized: whether layers it makes keep their dequantized weight (see AqlmLinear).
  explicit AqlmFormat(bool cache_dequantized = false) : cache_dequantized_(cache_dequantized) {}

  std::string name() const override { return "aqlm"; }
  // codes, codebooks and scales present and a quantization_config naming quant_method "aqlm".
  bool recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const override;
  // Additive quantization (aqlm_quantizer.h), weighted by the calibration inputs when given; codebooks,
  // scales and bias in the weight's dtype (the model dtype).
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const override;
  std::string quantization_config(const std::string& options_json) const override;
  sdk::TensorMap save(const sdk::LinearModule& layer) const override;
  // "aqlm": 2 codebooks of 2^8 over groups of 8 inputs (2 bits per weight), no calibration needed.
  std::vector<sdk::QuantizeMethod> quantize_methods() const override;
  // "": PEFT refuses merging per layer for aqlm, not for the model as a whole.
  std::string model_merge_refusal(const std::string& quantization_config_json) const override;

 private:
  bool cache_dequantized_;
};

}  // namespace oft::aqlm
