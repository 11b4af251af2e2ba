#pragma once
// The "gptq" LinearFormat: reads GptqLinear from checkpoint tensors, quantizes float weights with
// GPTQ (or round-to-nearest when there is no calibration data), and writes the tensors back.
#include <memory>
#include <string>
#include <vector>

#include "gptq_config.h"
#include "gptq_linear.h"
#include "gptq_quantizer.h"
#include "oft/sdk/linear_format.h"

namespace oft::gptq {

// Packs a quantized weight into a layer (scales stored in `scales_dtype`, fp16 as GPTQModel writes).
std::shared_ptr<GptqLinear> make_layer(const QuantizedWeight& quantized, const at::Tensor& bias,
                                       const GptqConfig& config, at::ScalarType scales_dtype = at::kHalf);

class GptqFormat final : public sdk::LinearFormat {
 public:
  // cache_dequantized: whether layers it makes keep their dequantized weight (see GptqLinear).
  explicit GptqFormat(bool cache_dequantized = false) : cache_dequantized_(cache_dequantized) {}

  std::string name() const override { return "gptq"; }
  // qweight, qzeros and scales present, and a quantization_config naming quant_method "gptq" (AWQ
  // layers have the same tensor names; without a config the bit width is unknown).
  bool recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const override;
  // Runs GPTQ when calibration is given, round-to-nearest otherwise.
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const override;
  std::string quantization_config(const std::string& options_json) const override;
  sdk::TensorMap save(const sdk::LinearModule& layer) const override;
  // "gptq": needs calibration activations.
  std::vector<sdk::QuantizeMethod> quantize_methods() const override;
  // PEFT's refusal for a model whose quantization_config is gptq's.
  std::string model_merge_refusal(const std::string& quantization_config_json) const override;

 private:
  bool cache_dequantized_;
};

}  // namespace oft::gptq
