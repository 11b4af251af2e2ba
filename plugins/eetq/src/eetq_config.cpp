#include "eetq_config.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"

namespace oft::eetq {
namespace {

using nlohmann::json;

void expect_string(const json& object, const std::string& key, const std::string& expected, const std::string& what) {
  if (!object.contains(key)) return;
  if (!object[key].is_string() || object[key].get<std::string>() != expected)
    throw std::invalid_argument("eetq: " + what + " \"" + key + "\" must be \"" + expected + "\", got " +
                                object[key].dump());
}

}  // namespace

bool is_eetq_quantization_config(const std::string& json_text) {
  json value = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  return value.is_object() && value.contains("quant_method") && value["quant_method"] == "eetq";
}

void check_quantization_config(const std::string& json_text) {
  const json config = sdk::parse_json_object(json_text, "eetq", "quantization_config");
  if (!config.contains("quant_method"))
    throw std::invalid_argument("eetq: quantization_config has no \"quant_method\", expected \"eetq\"");
  expect_string(config, "quant_method", "eetq", "quantization_config");
  expect_string(config, "weights", "int8", "quantization_config");
}

void check_options(const std::string& json_text) {
  const json options = sdk::parse_json_object(json_text, "eetq", "options");
  sdk::reject_unknown_keys(options, {"weights", "quant_method"}, "eetq", "option");
  expect_string(options, "weights", "int8", "option");
  expect_string(options, "quant_method", "eetq", "option");
}

std::string quantization_config_json() {
  return json{{"quant_method", "eetq"}, {"weights", "int8"}, {"modules_to_not_convert", nullptr}}.dump();
}

}  // namespace oft::eetq
