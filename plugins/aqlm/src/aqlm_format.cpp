#include "aqlm_format.h"

#include <stdexcept>

#include <ATen/ATen.h>

#include "aqlm_codes.h"

namespace oft::aqlm {
std::shared_ptr<AqlmLinear> make_layer(const AqlmWeights& weights, const at::Tensor& bias, const AqlmConfig& config) {
  AqlmTensors tensors{pack_codes(weights.codes, config.nbits_per_codebook), weights.codebooks, weights.scales,
                      bias.defined() ? bias.detach().to(weights.codebooks.scalar_type()).clone() : at::Tensor()};
  const sdk::LinearShape shape{weights.codes.size(1) * config.in_group_size,
                               weights.codes.size(0) * config.out_group_size, bias.defined()};
  return std::make_shared<AqlmLinear>(std::move(tensors), shape, config);
}

bool AqlmFormat::recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const {
  return tensors.count("codes") && tensors.count("codebooks") && tensors.count("scales") &&
         is_aqlm_quantization_config(quantization_config_json);
}

std::shared_ptr<sdk::LinearModule> AqlmFormat::load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                                    const std::string& quantization_config_json) const {
  const AqlmConfig config = AqlmConfig::from_quantization_config(quantization_config_json);
  auto layer = std::make_shared<AqlmLinear>(
      AqlmTensors{sdk::find_tensor(tensors, "codes"), sdk::find_tensor(tensors, "codebooks"),
                  sdk::find_tensor(tensors, "scales"), sdk::find_tensor(tensors, "bias")},
      shape, config);
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

std::shared_ptr<sdk::LinearModule> AqlmFormat::quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                        const std::string& options_json,
                                                        const at::Tensor& calibration) const {
  const QuantizeSettings settings = QuantizeSettings::from_options(options_json);
  const c10::ScalarType storage = weight.scalar_type();
  if (storage != at::kHalf && storage != at::kBFloat16 && storage != at::kFloat)
    throw std::invalid_argument(std::string("aqlm: tensor \"weight\" has dtype ") + c10::toString(storage) +
                                ", expected float16, bfloat16 or float32");
  // Quantized on the CPU wherever the weight is (the quantizer's searches and CPU generator), then the layer moves to
  // the weight's device.
  const at::Tensor cpu_calibration = calibration.defined() ? calibration.to(at::kCPU) : at::Tensor();
  const at::Tensor cpu_bias = bias.defined() ? bias.to(at::kCPU) : at::Tensor();
  auto layer =
      make_layer(quantize_aqlm(weight.to(at::kCPU), cpu_calibration, settings.config, settings.quantizer, storage),
                 cpu_bias, settings.config);
  layer->set_cache_dequantized(cache_dequantized_);
  if (!weight.device().is_cpu()) layer->module()->to(weight.device());
  return layer;
}

std::string AqlmFormat::quantization_config(const std::string& options_json) const {
  return QuantizeSettings::from_options(options_json).config.to_quantization_config();
}

sdk::TensorMap AqlmFormat::save(const sdk::LinearModule& layer) const {
  auto* aqlm = dynamic_cast<const AqlmLinear*>(&layer);
  if (aqlm == nullptr)
    throw std::invalid_argument("aqlm: cannot save a layer of format \"" + layer.format() + "\" as aqlm");
  sdk::TensorMap tensors{{"codes", aqlm->codes()}, {"codebooks", aqlm->codebooks()}, {"scales", aqlm->scales()}};
  if (aqlm->bias().defined()) tensors.emplace("bias", aqlm->bias());
  return tensors;
}

std::vector<sdk::QuantizeMethod> AqlmFormat::quantize_methods() const {
  // transformers (5.x) keeps a linear dense when its module name is listed, older releases when its weight
  // name is: `oft quantize` keeps the output layer dense, so both spellings are listed.
  return {{"aqlm",
           "AQLM additive quantization: 2 codebooks of 2^8 vectors per 8 inputs (2 bits/weight), fitted natively",
           R"({"num_codebooks": 2, "nbits_per_codebook": 8, "in_group_size": 8, "out_group_size": 1,)"
           R"( "linear_weights_not_to_quantize": ["lm_head.weight", "lm_head"]})",
           /*needs_calibration=*/false}};
}

std::string AqlmFormat::model_merge_refusal(const std::string&) const { return ""; }

}  // namespace oft::aqlm
