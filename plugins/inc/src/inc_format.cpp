#include "inc_format.h"

#include <stdexcept>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "inc_fp8_math.h"

namespace oft::inc {
namespace {

bool names_another_method(const std::string& quantization_config_json) {
  if (quantization_config_json.empty()) return false;
  auto c = nlohmann::json::parse(quantization_config_json, nullptr, /*allow_exceptions=*/false);
  return c.is_object() && c.contains("quant_method");
}

c10::ScalarType hp_type(const std::string& hp_dtype) {
  if (hp_dtype == "fp16") return at::kHalf;
  if (hp_dtype == "fp32") return at::kFloat;
  return at::kBFloat16;
}

}  // namespace

bool IncFormat::recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const {
  at::Tensor weight = sdk::find_tensor(tensors, "weight");
  return weight.defined() && c10::isFloat8Type(weight.scalar_type()) &&
         (tensors.count("dequant_weights.scale") || tensors.count("scale_weight")) &&
         !names_another_method(quantization_config_json);
}

std::shared_ptr<sdk::LinearModule> IncFormat::load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                                   const std::string& quantization_config_json) const {
  IncConfig config = is_inc_quantization_config(quantization_config_json)
                         ? IncConfig::from_quantization_config(quantization_config_json)
                         : IncConfig{};
  if (!is_inc_quantization_config(quantization_config_json) && sdk::find_tensor(tensors, "weight").defined() &&
      sdk::find_tensor(tensors, "weight").scalar_type() == at::kFloat8_e5m2)
    config.fp8_config = "E5M2";  // no config to say so: the tensor does
  const Naming naming = tensors.count("scale_weight") ? Naming::Gaudi : Naming::Qdq;
  IncTensors t;
  t.weight = sdk::find_tensor(tensors, "weight");
  t.bias = sdk::find_tensor(tensors, "bias");
  if (naming == Naming::Gaudi) {
    t.weight_scale = sdk::find_tensor(tensors, "scale_weight");
    t.input_scale = sdk::find_tensor(tensors, "scale_input");
  } else {
    t.weight_scale = sdk::find_tensor(tensors, "dequant_weights.scale");
    t.input_scale = sdk::find_tensor(tensors, "quant_input.scale");
    t.input_scale_inv = sdk::find_tensor(tensors, "quant_input.scale_inv");
    t.weight_zero_point = sdk::find_tensor(tensors, "dequant_weights.zero_point");
    t.input_zero_point = sdk::find_tensor(tensors, "quant_input.zero_point");
  }
  auto layer = std::make_shared<IncLinear>(std::move(t), shape, config, naming);
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

std::shared_ptr<sdk::LinearModule> IncFormat::quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                       const std::string& options_json,
                                                       const at::Tensor& calibration) const {
  const IncConfig config = IncConfig::from_options(options_json);
  if (weight.dim() != 2) throw std::invalid_argument("inc: weight must be (out_features, in_features)");
  if (!calibration.defined())
    throw std::invalid_argument("inc: inc-fp8 needs calibration inputs (N, in_features) for the input scale");
  if (calibration.size(-1) != weight.size(1))
    throw std::invalid_argument("inc: calibration has " + std::to_string(calibration.size(-1)) +
                                " features, the weight has " + std::to_string(weight.size(1)) + " inputs");
  const auto fp8 = config.fp8_config == "E5M2" ? at::kFloat8_e5m2 : at::kFloat8_e4m3fn;
  const auto hp = hp_type(config.hp_dtype);
  at::NoGradGuard no_grad;
  // Quantized on the CPU wherever the weight is (the scales' log2 and exp2 are the CPU's); the layer then moves to
  // the weight's device. INC quantizes fp16 weights from bf16 copies.
  at::Tensor w = weight.to(at::kCPU);
  if (w.scalar_type() == at::kHalf) w = w.to(at::kBFloat16);
  IncTensors t;
  t.weight_scale = weight_scale(w, fp8, hp, config.per_channel_weight(), config.pow2_weight());
  t.weight = quantize_weight(w, t.weight_scale, fp8);
  at::Tensor s = input_scale(calibration.to(at::kCPU), fp8, hp, config.pow2_input());
  t.input_scale_inv = at::reciprocal(s);
  t.input_scale = at::reciprocal(t.input_scale_inv);
  if (bias.defined()) t.bias = bias.detach().to(at::kCPU).to(hp).clone();
  if (config.scale_format == "const") {
    t.weight_zero_point = at::zeros({}, at::kFloat);
    t.input_zero_point = at::zeros({}, at::kFloat);
  }
  sdk::LinearShape shape{weight.size(1), weight.size(0), bias.defined()};
  auto layer = std::make_shared<IncLinear>(std::move(t), shape, config, Naming::Qdq);
  layer->set_cache_dequantized(cache_dequantized_);
  if (!weight.device().is_cpu()) layer->module()->to(weight.device());
  return layer;
}

std::string IncFormat::quantization_config(const std::string& options_json) const {
  return IncConfig::from_options(options_json).to_quantization_config();
}

sdk::TensorMap IncFormat::save(const sdk::LinearModule& layer) const {
  auto* inc = dynamic_cast<const IncLinear*>(&layer);
  if (inc == nullptr)
    throw std::invalid_argument("inc: cannot save a layer of format \"" + layer.format() + "\" as inc_fp8");
  sdk::TensorMap tensors{{"weight", inc->weight()}};
  if (inc->bias().defined()) tensors.emplace("bias", inc->bias());
  if (inc->naming() == Naming::Gaudi) {
    tensors.emplace("scale_weight", inc->weight_scale());
    tensors.emplace("scale_input", inc->input_scale());
    return tensors;
  }
  tensors.emplace("dequant_weights.scale", inc->weight_scale());
  tensors.emplace("quant_input.scale", inc->input_scale());
  tensors.emplace("quant_input.scale_inv", inc->input_scale_inv());
  if (inc->weight_zero_point().defined()) tensors.emplace("dequant_weights.zero_point", inc->weight_zero_point());
  if (inc->input_zero_point().defined()) tensors.emplace("quant_input.zero_point", inc->input_zero_point());
  return tensors;
}

std::vector<sdk::QuantizeMethod> IncFormat::quantize_methods() const {
  return {{"inc-fp8",
           "Intel Neural Compressor FP8 (E4M3/E5M2) weights and calibrated input scales, QDQ on CPU (INC's "
           "checkpoint)",
           R"({"fp8_config": "E4M3", "scale_method": "maxabs_pow2", "blocklist": {"names": ["lm_head"], "types": []}})",
           /*needs_calibration=*/true}};
}

}  // namespace oft::inc
