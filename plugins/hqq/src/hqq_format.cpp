#include "hqq_format.h"

#include <stdexcept>
#include <utility>

#include <ATen/ATen.h>

#include "hqq_config.h"
#include "hqq_linear.h"
#include "hqq_quantizer.h"

namespace oft::hqq {

std::shared_ptr<sdk::LinearModule> HqqFormat::made(HqqState state) const {
  auto layer = std::make_shared<HqqLinear>(std::move(state));
  layer->set_cache_dequantized(cache_dequantized_);
  return layer;
}

bool HqqFormat::recognizes(const sdk::TensorMap& tensors, const std::string&) const {
  return tensors.count("W_q") && tensors.count("nbits") && tensors.count("shape") && tensors.count("packing");
}

std::shared_ptr<sdk::LinearModule> HqqFormat::load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                                   const std::string&) const {
  return made(decode_state(tensors, shape));
}

std::shared_ptr<sdk::LinearModule> HqqFormat::quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                       const std::string& options_json, const at::Tensor&) const {
  const HqqSettings settings = HqqSettings::from_options(options_json);
  if (!weight.defined() || !at::isFloatingType(weight.scalar_type()))
    throw std::invalid_argument("hqq: tensor \"weight\" must be a floating (out, in) matrix");
  const at::ScalarType dtype = weight.scalar_type() == at::kDouble ? at::kFloat : weight.scalar_type();
  return made(quantize_state(weight, bias, settings, dtype));
}

std::string HqqFormat::quantization_config(const std::string& options_json) const {
  return HqqSettings::from_options(options_json).to_quantization_config();
}

sdk::TensorMap HqqFormat::save(const sdk::LinearModule& layer) const {
  auto* hqq = dynamic_cast<const HqqLinear*>(&layer);
  if (hqq == nullptr)
    throw std::invalid_argument("hqq: cannot save a layer of format \"" + layer.format() + "\" as hqq");
  return encode_state(hqq->state());
}

std::vector<sdk::QuantizeMethod> HqqFormat::quantize_methods() const {
  return {{"hqq",
           "HQQ: 1-8 bit groups with zero points fitted by half-quadratic optimization, no calibration data "
           "(hqq's HQQLinear checkpoint)",
           R"({"nbits": 4, "group_size": 64, "axis": 1})", /*needs_calibration=*/false}};
}

std::string HqqFormat::model_merge_refusal(const std::string&) const { return ""; }

}  // namespace oft::hqq
