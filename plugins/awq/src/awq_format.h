#pragma once
// The "awq" LinearFormat: reads AwqLinear from checkpoint tensors (gemm and gemv layouts), quantizes
// float weights with AWQ's clipping search on calibration inputs (round-to-nearest without them), and
// writes the tensors back. It also offers AWQ's input scale search (sdk::InputScaleSearch), which the
// host folds into the model before it quantizes the layers.
#include <memory>
#include <string>
#include <vector>

#include "awq_config.h"
#include "awq_linear.h"
#include "awq_quantizer.h"
#include "oft/sdk/input_scale_search.h"
#include "oft/sdk/linear_format.h"

namespace oft::awq {

// Packs a quantized weight into a layer; the bias is stored in the scales' dtype (fp16, as GPTQModel packs).
std::shared_ptr<AwqLinear> make_layer(const QuantizedWeight& quantized, const at::Tensor& bias,
                                      const AwqConfig& config);

class AwqFormat final : public sdk::LinearFormat, public sdk::InputScaleSearch {
 public:
  // cache_dequantized: whether layers it makes keep their dequantized weight (see AwqLinear).
  explicit AwqFormat(bool cache_dequantized = false) : cache_dequantized_(cache_dequantized) {}

  std::string name() const override { return "awq"; }
  // qweight, qzeros and scales present, and a quantization_config naming quant_method "awq" (GPTQ
  // layers have the same tensor names; without a config the bit width is unknown).
  bool recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const override;
  // Runs the clipping search when calibration is given, round-to-nearest otherwise; scales in fp16. A weight on
  // another device is quantized on a CPU copy (the same values) and the layer's tensors put on that device.
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const override;
  std::string quantization_config(const std::string& options_json) const override;
  sdk::TensorMap save(const sdk::LinearModule& layer) const override;
  // "awq": needs calibration activations.
  std::vector<sdk::QuantizeMethod> quantize_methods() const override;
  // "": PEFT refuses merging AWQ layers one by one (TypeError), not the model as a whole; our layers
  // merge by requantizing.
  std::string model_merge_refusal(const std::string& quantization_config_json) const override;
  // AWQ's scale search (awq_scale_search.h) at the options' bits and group size; undefined when the
  // options say {"scale_search": false}.
  at::Tensor search_input_scale(const std::vector<at::Tensor>& weights_reading_one_input,
                                const std::string& options_json, const at::Tensor& calibration) const override;

 private:
  bool cache_dequantized_;
};

}  // namespace oft::awq
