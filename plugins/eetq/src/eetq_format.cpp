#include "eetq_format.h"

#include <stdexcept>

#include <ATen/ATen.h>

#include "eetq_config.h"
#include "eetq_layout.h"
#include "eetq_quantizer.h"

namespace oft::eetq {
bool EetqFormat::recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const {
  const at::Tensor weight = sdk::find_tensor(tensors, "weight");
  return weight.defined() && weight.scalar_type() == at::kChar && tensors.count("weight_scales") &&
         is_eetq_quantization_config(quantization_config_json);
}

std::shared_ptr<sdk::LinearModule> EetqFormat::load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                                    const std::string& quantization_config_json) const {
  check_quantization_config(quantization_config_json);
  check_layout_shape(shape.in_features, shape.out_features);
  const at::Tensor stored = sdk::find_tensor(tensors, "weight");
  check_weight(stored, shape);
  auto layer = std::make_shared<EetqLinear>(from_arch80_layout(stored), sdk::find_tensor(tensors, "weight_scales"),
                                            sdk::find_tensor(tensors, "bias"), shape);
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

std::shared_ptr<sdk::LinearModule> EetqFormat::quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                        const std::string& options_json, const at::Tensor&) const {
  check_options(options_json);
  if (weight.dim() != 2) throw std::invalid_argument("eetq: the weight to quantize must be 2-D (out, in)");
  const sdk::LinearShape shape{weight.size(1), weight.size(0), bias.defined()};
  check_layout_shape(shape.in_features, shape.out_features);
  // The quantizer runs on the CPU: a weight on another device is quantized on a CPU copy (the same values) and the
  // layer moved where the weight was.
  QuantizedWeight q =
      quantize_per_channel(weight.to(at::kCPU), weight.scalar_type() == at::kHalf ? at::kHalf : at::kFloat);
  auto layer = std::make_shared<EetqLinear>(q.codes, q.scales,
                                            bias.defined() ? bias.detach().to(at::kCPU).clone() : at::Tensor(), shape);
  if (!weight.device().is_cpu()) layer->to(weight.device());
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

std::string EetqFormat::quantization_config(const std::string& options_json) const {
  check_options(options_json);
  return quantization_config_json();
}

sdk::TensorMap EetqFormat::save(const sdk::LinearModule& layer) const {
  auto* eetq = dynamic_cast<const EetqLinear*>(&layer);
  if (eetq == nullptr)
    throw std::invalid_argument("eetq: cannot save a layer of format \"" + layer.format() + "\" as eetq");
  sdk::TensorMap tensors{{"weight", to_arch80_layout(eetq->codes())}, {"weight_scales", eetq->weight_scales()}};
  if (eetq->bias().defined()) tensors.emplace("bias", eetq->bias());
  return tensors;
}

std::vector<sdk::QuantizeMethod> EetqFormat::quantize_methods() const {
  return {{"eetq",
           "EETQ: int8 weight-only, symmetric per output channel (transformers' EetqLinear checkpoint, arch-80 "
           "layout)",
           "{}", /*needs_calibration=*/false}};
}

std::string EetqFormat::model_merge_refusal(const std::string&) const { return ""; }

}  // namespace oft::eetq
