#pragma once
// The "inc_fp8" LinearFormat: reads IncLinear from INC's saved tensors (CPU/QDQ names, or the Gaudi
// quant-mode names scale_weight / scale_input), quantizes float weights with INC's scale formulas and
// calibration inputs (`oft quantize --method inc-fp8`), and writes the tensors back under the names the
// layer was read with.
#include <memory>
#include <string>
#include <vector>

#include "inc_config.h"
#include "inc_linear.h"
#include "oft/sdk/linear_format.h"

namespace oft::inc {

class IncFormat final : public sdk::LinearFormat {
 public:
  // cache_dequantized: whether layers it makes keep their dequantized weight (see IncLinear).
  explicit IncFormat(bool cache_dequantized = false) : cache_dequantized_(cache_dequantized) {}

  std::string name() const override { return "inc_fp8"; }
  // An FP8 "weight" with a weight scale (dequant_weights.scale or scale_weight). INC's config has no
  // quant_method, so the tensors decide; a quantization_config of another method is not INC's.
  bool recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const override;
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const override;
  // Needs calibration inputs (N, in_features): they give the input scale.
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const override;
  std::string quantization_config(const std::string& options_json) const override;
  sdk::TensorMap save(const sdk::LinearModule& layer) const override;
  // "inc-fp8".
  std::vector<sdk::QuantizeMethod> quantize_methods() const override;
  // "": PEFT has no model-level refusal for INC (its layers refuse, ours requantize).
  std::string model_merge_refusal(const std::string&) const override { return ""; }

 private:
  bool cache_dequantized_;
};

}  // namespace oft::inc
