#include "awq_config.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"

namespace oft::awq {
namespace {

using nlohmann::json;

json parse(const std::string& text, const char* what) { return sdk::parse_json_object(text, "awq", what); }

// Every value is checked against the type it is read as (a fraction or a number out of range was found by
// fuzz_awq_config).
template <typename T>
T get(const json& object, const std::string& key, const char* expected) {
  return sdk::json_value<T>(object, key, "awq", "quantization_config", expected);
}

bool present(const json& c, const char* key) { return c.contains(key) && !c[key].is_null(); }

// Reads the keys we understand; w_bit and q_group_size are AutoAWQ's own names.
AwqConfig read(const json& c) {
  AwqConfig config;
  for (const char* key : {"w_bit", "bits"})
    if (present(c, key)) config.bits = get<int>(c, key, "an integer");
  for (const char* key : {"q_group_size", "group_size"})
    if (present(c, key)) config.group_size = get<int64_t>(c, key, "an integer");
  if (present(c, "zero_point")) config.zero_point = get<bool>(c, "zero_point", "a boolean");

  // transformers lower-cases the legacy "version" into "format" and writes both.
  std::string layout = "gemm";
  for (const char* key : {"version", "format"})
    if (present(c, key)) layout = get<std::string>(c, key, "a string");
  std::transform(layout.begin(), layout.end(), layout.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (layout == "gemm")
    config.layout = Layout::Gemm;
  else if (layout == "gemv")
    config.layout = Layout::Gemv;
  else
    throw std::invalid_argument("awq: quantization_config format \"" + layout +
                                "\" is not supported (expected \"gemm\" or \"gemv\"; exllama, marlin, ipex and "
                                "gemv_fast layouts are not)");
  if (present(c, "pack_dtype") && c["pack_dtype"] != "int32")
    throw std::invalid_argument("awq: quantization_config pack_dtype " + c["pack_dtype"].dump() +
                                " is not supported (expected \"int32\")");

  if (config.layout == Layout::Gemm && config.bits != 2 && config.bits != 3 && config.bits != 4 && config.bits != 8)
    throw std::invalid_argument("awq: quantization_config bits must be 2, 3, 4 or 8 for the gemm format, got " +
                                std::to_string(config.bits));
  if (config.layout == Layout::Gemv && config.bits != 4)
    throw std::invalid_argument("awq: quantization_config bits must be 4 for the gemv format, got " +
                                std::to_string(config.bits));
  if (config.group_size != -1 && config.group_size <= 0)
    throw std::invalid_argument("awq: quantization_config group_size must be -1 or positive, got " +
                                std::to_string(config.group_size));
  return config;
}

}  // namespace

AwqConfig AwqConfig::from_quantization_config(const std::string& json_text) {
  return read(parse(json_text, "quantization_config"));
}

AwqConfig AwqConfig::from_options(const std::string& json_text) {
  json options = parse(json_text, "options");
  sdk::reject_unknown_keys(
      options,
      {"bits", "group_size", "zero_point", "format", "version", "pack_dtype", "quant_method", "method", "scale_search"},
      "awq", "option");
  for (const char* key : {"quant_method", "method"})
    if (options.contains(key) && options[key] != "awq")
      throw std::invalid_argument(std::string("awq: option ") + key + " must be \"awq\", got " + options[key].dump());
  AwqConfig config = read(options);
  if (options.contains("scale_search")) {
    if (!options["scale_search"].is_boolean())
      throw std::invalid_argument("awq: option scale_search must be a boolean, got " + options["scale_search"].dump());
    config.scale_search = options["scale_search"].get<bool>();
  }
  return config;
}

std::string AwqConfig::to_quantization_config() const {
  const char* layout_name = layout == Layout::Gemm ? "gemm" : "gemv";
  // Every key of transformers 5.24's AwqConfig.to_dict() (a GPTQConfig subclass), with its defaults.
  json out = {{"quant_method", "awq"},
              {"bits", bits},
              {"group_size", group_size},
              {"zero_point", zero_point},
              {"format", layout_name},
              {"version", layout_name},
              {"backend", "auto"},
              {"modules_to_not_convert", nullptr},
              {"tokenizer", nullptr},
              {"dataset", nullptr},
              {"damp_percent", 0.1},
              {"desc_act", false},
              {"act_group_aware", true},
              {"sym", true},
              {"true_sequential", true},
              {"meta", nullptr},
              {"model_seqlen", nullptr},
              {"block_name_to_quantize", nullptr},
              {"module_name_preceding_first_block", nullptr},
              {"batch_size", 1},
              {"pad_token_id", nullptr},
              {"max_input_length", nullptr},
              {"cache_block_outputs", true},
              {"modules_in_block_to_quantize", nullptr}};
  return out.dump();
}

bool is_awq_quantization_config(const std::string& json_text) {
  if (json_text.empty()) return false;
  json c = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!c.is_object()) return false;
  for (const char* key : {"quant_method", "method"})
    if (c.contains(key) && c[key] == "awq") return true;
  return false;
}

}  // namespace oft::awq
