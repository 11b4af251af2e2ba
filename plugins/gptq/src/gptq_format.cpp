#include "gptq_format.h"

#include <stdexcept>

#include <ATen/ATen.h>

#include "gptq_packing.h"

namespace oft::gptq {
std::shared_ptr<GptqLinear> make_layer(const QuantizedWeight& q, const at::Tensor& bias, const GptqConfig& config,
                                       at::ScalarType scales_dtype) {
  GptqTensors tensors;
  tensors.qweight = pack_rows(q.codes, config.bits);
  tensors.qzeros = encode_zeros(q.zeros, config.bits, config.checkpoint_format);
  tensors.scales = q.scales.to(scales_dtype);
  tensors.g_idx = q.g_idx;
  if (bias.defined()) tensors.bias = bias.detach().to(scales_dtype).clone();
  sdk::LinearShape shape{q.codes.size(0), q.codes.size(1), bias.defined()};
  return std::make_shared<GptqLinear>(std::move(tensors), shape, config);
}

bool GptqFormat::recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const {
  return tensors.count("qweight") && tensors.count("qzeros") && tensors.count("scales") &&
         is_gptq_quantization_config(quantization_config_json);
}

std::shared_ptr<sdk::LinearModule> GptqFormat::load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                                    const std::string& quantization_config_json) const {
  GptqConfig config = GptqConfig::from_quantization_config(quantization_config_json);
  GptqTensors t{sdk::find_tensor(tensors, "qweight"), sdk::find_tensor(tensors, "qzeros"),
                sdk::find_tensor(tensors, "scales"), sdk::find_tensor(tensors, "g_idx"),
                sdk::find_tensor(tensors, "bias")};
  auto layer = std::make_shared<GptqLinear>(std::move(t), shape, config);
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

std::shared_ptr<sdk::LinearModule> GptqFormat::quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                        const std::string& options_json,
                                                        const at::Tensor& calibration) const {
  GptqConfig config = GptqConfig::from_options(options_json);
  // The quantizer runs on the CPU: a weight on another device is quantized from CPU copies (the same values) and the
  // layer moved where the weight was.
  const at::Tensor cpu_weight = weight.to(at::kCPU);
  QuantizedWeight q = calibration.defined() ? quantize_gptq(cpu_weight, calibration.to(at::kCPU), config)
                                            : quantize_rtn(cpu_weight, config);
  auto layer = make_layer(q, bias.defined() ? bias.to(at::kCPU) : bias, config);
  if (!weight.device().is_cpu()) layer->to(weight.device());
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

std::string GptqFormat::quantization_config(const std::string& options_json) const {
  return GptqConfig::from_options(options_json).to_quantization_config();
}

sdk::TensorMap GptqFormat::save(const sdk::LinearModule& layer) const {
  auto* gptq = dynamic_cast<const GptqLinear*>(&layer);
  if (gptq == nullptr)
    throw std::invalid_argument("gptq: cannot save a layer of format \"" + layer.format() + "\" as gptq");
  sdk::TensorMap tensors{
      {"qweight", gptq->qweight()}, {"qzeros", gptq->qzeros()}, {"scales", gptq->scales()}, {"g_idx", gptq->g_idx()}};
  if (gptq->bias().defined()) tensors.emplace("bias", gptq->bias());
  return tensors;
}

std::vector<sdk::QuantizeMethod> GptqFormat::quantize_methods() const {
  return {{"gptq", "GPTQ: 2/3/4/8-bit integer groups fitted to calibration inputs (GPTQModel's checkpoint)", "{}",
           /*needs_calibration=*/true}};
}

std::string GptqFormat::model_merge_refusal(const std::string& quantization_config_json) const {
  return is_gptq_quantization_config(quantization_config_json) ? kMergeRefused : "";
}

}  // namespace oft::gptq
