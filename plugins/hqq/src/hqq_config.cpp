#include "hqq_config.h"

#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"

namespace oft::hqq {
namespace {

using nlohmann::json;

double number(const json& value, const std::string& key) {
  if (!value.is_number()) throw std::invalid_argument("hqq: option \"" + key + "\" must be a number");
  return value.get<double>();
}

int64_t integer(const json& value, const std::string& key) {
  if (!sdk::json_holds<int64_t>(value)) throw std::invalid_argument("hqq: option \"" + key + "\" must be an integer");
  return value.get<int64_t>();
}

bool boolean(const json& value, const std::string& key) {
  if (!value.is_boolean()) throw std::invalid_argument("hqq: option \"" + key + "\" must be true or false");
  return value.get<bool>();
}

HqqSettings from_weight_quant_params(const json& params) {
  if (!params.is_object())
    throw std::invalid_argument("hqq: quantization_config \"weight_quant_params\" must be an object");
  HqqSettings s;
  if (!params.contains("nbits")) throw std::invalid_argument("hqq: quantization_config has no \"nbits\"");
  s.nbits = number(params["nbits"], "nbits");
  if (!params.contains("group_size") || params["group_size"].is_null())
    throw std::invalid_argument("hqq: quantization_config \"group_size\" must be set (null is not supported)");
  s.group_size = integer(params["group_size"], "group_size");
  s.axis = static_cast<int>(integer(params.value("axis", json(1)), "axis"));
  s.view_as_float = boolean(params.value("view_as_float", json(false)), "view_as_float");
  s.channel_wise = boolean(params.value("channel_wise", json(true)), "channel_wise");
  s.optimize = boolean(params.value("optimize", json(true)), "optimize");
  s.round_zero = boolean(params.value("round_zero", json(s.nbits == 4)), "round_zero");
  s.validate();
  return s;
}

}  // namespace

bool is_supported_nbits(double nbits) {
  for (double b : {8.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.58, 1.0})
    if (std::abs(nbits - b) < 1e-6) return true;
  return false;
}

std::string packing_for_nbits(double nbits) {
  if (!is_supported_nbits(nbits))
    throw std::invalid_argument("hqq: nbits " + std::to_string(nbits) + " is not one of 8, 6, 5, 4, 3, 2, 1.58, 1");
  if (nbits >= 5) return "8bit_u8";
  if (nbits == 4) return "4bit_u8";
  if (nbits == 3) return "3bit_32";
  if (nbits > 1) return "2bit_u8";  // 2 and 1.58
  return "1bit_u8";
}

int64_t max_code(double nbits) { return static_cast<int64_t>(std::nearbyint(std::pow(2.0, nbits) - 1)); }

void HqqSettings::validate() const {
  if (!is_supported_nbits(nbits))
    throw std::invalid_argument("hqq: option \"nbits\" is " + std::to_string(nbits) +
                                ", expected one of 8, 6, 5, 4, 3, 2, 1.58, 1");
  if (group_size <= 0 || group_size % 8 != 0)
    throw std::invalid_argument("hqq: option \"group_size\" is " + std::to_string(group_size) +
                                ", expected a positive multiple of 8");
  if (axis != 0 && axis != 1)
    throw std::invalid_argument("hqq: option \"axis\" is " + std::to_string(axis) + ", expected 0 or 1");
}

HqqSettings HqqSettings::from_options(const std::string& options_json) {
  const json options = sdk::parse_json_object(options_json, "hqq", "options");
  sdk::reject_unknown_keys(options, {"nbits", "group_size", "axis", "view_as_float"}, "hqq", "option");
  HqqSettings s;
  if (options.contains("nbits")) s.nbits = number(options["nbits"], "nbits");
  if (options.contains("group_size")) s.group_size = integer(options["group_size"], "group_size");
  if (options.contains("axis")) s.axis = static_cast<int>(integer(options["axis"], "axis"));
  if (options.contains("view_as_float")) s.view_as_float = boolean(options["view_as_float"], "view_as_float");
  s.round_zero = s.nbits == 4;  // as hqq's BaseQuantizeConfig
  s.validate();
  return s;
}

HqqSettings HqqSettings::from_quantization_config(const std::string& quantization_config_json) {
  json config = sdk::parse_json_object(quantization_config_json, "hqq", "quantization_config");
  if (!is_hqq_quantization_config(quantization_config_json))
    throw std::invalid_argument("hqq: quantization_config has no \"quant_method\": \"hqq\"");
  if (!config.contains("quant_config") || !config["quant_config"].is_object())
    throw std::invalid_argument("hqq: quantization_config has no \"quant_config\" object");
  const json& quant_config = config["quant_config"];
  if (quant_config.contains("weight_quant_params"))
    return from_weight_quant_params(quant_config["weight_quant_params"]);
  // A dynamic config: one BaseQuantizeConfig per module tag.
  HqqSettings first;
  bool seen = false;
  for (const auto& [tag, tag_config] : quant_config.items()) {
    if (!tag_config.is_object() || !tag_config.contains("weight_quant_params"))
      throw std::invalid_argument("hqq: quantization_config \"quant_config\" entry \"" + tag +
                                  "\" has no \"weight_quant_params\"");
    HqqSettings s = from_weight_quant_params(tag_config["weight_quant_params"]);
    if (seen && s.to_quantization_config() != first.to_quantization_config())
      throw std::invalid_argument(
          "hqq: a dynamic quant_config with different settings per module tag is not supported");
    first = s;
    seen = true;
  }
  if (!seen) throw std::invalid_argument("hqq: quantization_config \"quant_config\" is empty");
  return first;
}

std::string HqqSettings::to_quantization_config() const {
  nlohmann::ordered_json params;
  if (nbits == std::floor(nbits))
    params["nbits"] = static_cast<int64_t>(nbits);
  else
    params["nbits"] = nbits;
  params["channel_wise"] = channel_wise;
  params["group_size"] = group_size;
  params["optimize"] = optimize;
  params["round_zero"] = round_zero;
  params["axis"] = axis;
  params["view_as_float"] = view_as_float;
  nlohmann::ordered_json config;
  config["quant_config"]["weight_quant_params"] = params;
  config["quant_config"]["scale_quant_params"] = nullptr;
  config["quant_config"]["zero_quant_params"] = nullptr;
  config["quant_config"]["offload_meta"] = false;
  config["quant_method"] = "hqq";
  config["skip_modules"] = {"lm_head"};
  return config.dump();
}

bool is_hqq_quantization_config(const std::string& quantization_config_json) {
  if (quantization_config_json.empty()) return false;
  json config = json::parse(quantization_config_json, nullptr, /*allow_exceptions=*/false);
  return config.is_object() && config.value("quant_method", json()) == "hqq";
}

}  // namespace oft::hqq
