#include "awq_format.h"

#include <stdexcept>

#include <ATen/ATen.h>

#include "awq_scale_search.h"

namespace oft::awq {
namespace {

// The quantizer and the scale search run on the CPU: device tensors go in as CPU copies (CPU ones as they are).
at::Tensor cpu_copy(const at::Tensor& t) { return t.defined() ? t.to(at::kCPU) : t; }

}  // namespace

std::shared_ptr<AwqLinear> make_layer(const QuantizedWeight& q, const at::Tensor& bias, const AwqConfig& config) {
  AwqTensors tensors = pack_tensors(q.codes, q.scales, q.zeros, config);
  if (bias.defined()) tensors.bias = bias.detach().to(q.scales.scalar_type()).clone();
  sdk::LinearShape shape{q.codes.size(1), q.codes.size(0), bias.defined()};
  return std::make_shared<AwqLinear>(std::move(tensors), shape, config);
}

bool AwqFormat::recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const {
  return tensors.count("qweight") && tensors.count("qzeros") && tensors.count("scales") &&
         is_awq_quantization_config(quantization_config_json);
}

std::shared_ptr<sdk::LinearModule> AwqFormat::load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                                   const std::string& quantization_config_json) const {
  AwqConfig config = AwqConfig::from_quantization_config(quantization_config_json);
  AwqTensors t{sdk::find_tensor(tensors, "qweight"), sdk::find_tensor(tensors, "qzeros"),
               sdk::find_tensor(tensors, "scales"), sdk::find_tensor(tensors, "bias")};
  auto layer = std::make_shared<AwqLinear>(std::move(t), shape, config);
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

std::shared_ptr<sdk::LinearModule> AwqFormat::quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                       const std::string& options_json,
                                                       const at::Tensor& calibration) const {
  AwqConfig config = AwqConfig::from_options(options_json);
  const at::Tensor w = cpu_copy(weight);
  QuantizedWeight q = calibration.defined() ? quantize_awq(w, cpu_copy(calibration), config, at::kHalf)
                                            : quantize_rtn(w, config, at::kHalf);
  auto layer = make_layer(q, cpu_copy(bias), config);
  if (!weight.device().is_cpu()) layer->to(weight.device());  // the layer lives where the weight was
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

std::string AwqFormat::quantization_config(const std::string& options_json) const {
  return AwqConfig::from_options(options_json).to_quantization_config();
}

sdk::TensorMap AwqFormat::save(const sdk::LinearModule& layer) const {
  auto* awq = dynamic_cast<const AwqLinear*>(&layer);
  if (awq == nullptr)
    throw std::invalid_argument("awq: cannot save a layer of format \"" + layer.format() + "\" as awq");
  sdk::TensorMap tensors{{"qweight", awq->qweight()}, {"qzeros", awq->qzeros()}, {"scales", awq->scales()}};
  if (awq->bias().defined()) tensors.emplace("bias", awq->bias());
  return tensors;
}

std::vector<sdk::QuantizeMethod> AwqFormat::quantize_methods() const {
  return {{"awq",
           "AWQ: 2/3/4/8-bit integer groups, input scales and clipping searched on calibration inputs "
           "(transformers/GPTQModel gemm checkpoint)",
           R"({"bits": 4, "group_size": 128, "zero_point": true, "scale_search": true})", /*needs_calibration=*/true}};
}

std::string AwqFormat::model_merge_refusal(const std::string&) const { return ""; }

at::Tensor AwqFormat::search_input_scale(const std::vector<at::Tensor>& weights_reading_one_input,
                                         const std::string& options_json, const at::Tensor& calibration) const {
  const AwqConfig config = AwqConfig::from_options(options_json);
  if (!config.scale_search) return {};
  std::vector<at::Tensor> weights;
  for (const auto& w : weights_reading_one_input) weights.push_back(cpu_copy(w));
  const at::Tensor scale = awq::search_input_scale(weights, cpu_copy(calibration), config).scale;
  // On the calibration inputs' device, which the host divides by it.
  return calibration.defined() ? scale.to(calibration.device()) : scale;
}

}  // namespace oft::awq
