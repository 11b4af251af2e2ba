#include <set>
#include <stdexcept>
#include <string>

#include <ATen/ops/scalar_tensor.h>

#include "formats.h"
#include "linear8bit.h"
#include "options.h"

namespace oft::bnb {
namespace {

const char* kLayouts[] = {"row", "col32", "col_turing", "col_ampere"};

void check_weight_format(const at::Tensor& t) {
  if (t.numel() != 1 || at::isFloatingType(t.scalar_type()))
    throw std::invalid_argument("weight_format: expected one integer (0 = row layout)");
  const int64_t code = t.reshape({-1})[0].item<int64_t>();
  if (code == 0) return;
  const std::string layout = code > 0 && code < 4 ? std::string(" (") + kLayouts[code] + ")" : std::string();
  throw std::invalid_argument("weight_format: " + std::to_string(code) + layout +
                              "; only 0 (row) is supported, as in bitsandbytes");
}

}  // namespace

std::string Int8Format::name() const { return kFormat8bit; }

std::vector<sdk::QuantizeMethod> Int8Format::quantize_methods() const {
  return {{"bnb-int8", "LLM.int8: int8 rows with one absmax scale each (bitsandbytes Linear8bitLt)", "{}", false}};
}

bool Int8Format::recognizes(const sdk::TensorMap& tensors, const std::string& quantization_config_json) const {
  const at::Tensor weight = sdk::find_tensor(tensors, "weight");
  if (!weight.defined() || weight.scalar_type() != at::kChar) return false;
  return tensors.count("SCB") != 0 || config_loads_in_8bit(quantization_config_json);
}

std::shared_ptr<sdk::LinearModule> Int8Format::load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                                    const std::string& quantization_config_json) const {
  static const std::set<std::string> known = {"weight", "SCB", "weight_format", "bias"};
  for (const auto& [key, value] : tensors)
    if (!known.count(key))
      throw std::invalid_argument("unexpected tensor '" + key +
                                  "' for bitsandbytes 8-bit (expected weight, SCB, weight_format, bias)");
  const at::Tensor weight = sdk::find_tensor(tensors, "weight");
  const at::Tensor scb = sdk::find_tensor(tensors, "SCB");
  const at::Tensor bias = sdk::find_tensor(tensors, "bias");
  if (!scb.defined()) throw std::invalid_argument("SCB: missing (bitsandbytes 8-bit row statistics)");
  if (tensors.count("weight_format")) check_weight_format(tensors.at("weight_format"));
  if (weight.defined() && weight.dim() == 2 &&
      (weight.size(0) != shape.out_features || weight.size(1) != shape.in_features))
    throw std::invalid_argument("weight: shape (" + std::to_string(weight.size(0)) + ", " +
                                std::to_string(weight.size(1)) + "), the architecture expects (" +
                                std::to_string(shape.out_features) + ", " + std::to_string(shape.in_features) + ")");
  if (shape.bias != bias.defined())
    throw std::invalid_argument(shape.bias ? "bias: missing" : "bias: present, but the architecture has no bias");
  const Int8Options options = int8_options(quantization_config_json, Source::ModelConfig);
  return std::make_shared<Linear8bitLt>(weight, scb, bias, options.threshold);
}

std::shared_ptr<sdk::LinearModule> Int8Format::quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                        const std::string& options_json, const at::Tensor&) const {
  return Linear8bitLt::from_float(weight, bias, int8_options(options_json, Source::Options).threshold);
}

std::string Int8Format::quantization_config(const std::string& options_json) const {
  return quantization_config_json(int8_options(options_json, Source::Options));
}

sdk::TensorMap Int8Format::save(const sdk::LinearModule& layer) const {
  const auto* l = dynamic_cast<const Linear8bitLt*>(&layer);
  if (l == nullptr) throw std::invalid_argument("bnb_8bit cannot save a " + layer.type_name() + " layer");
  sdk::TensorMap out{{"weight", l->weight()},
                     {"SCB", l->scb()},
                     {"weight_format", at::scalar_tensor(0, at::TensorOptions().dtype(at::kByte))}};
  if (l->bias().defined()) out["bias"] = l->bias();
  return out;
}

}  // namespace oft::bnb
