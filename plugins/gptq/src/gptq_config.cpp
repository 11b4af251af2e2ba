#include "gptq_config.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"

namespace oft::gptq {
namespace {

using nlohmann::json;

json parse(const std::string& text, const char* what) { return sdk::parse_json_object(text, "gptq", what); }

// Every value is checked against the type it is read as (a fraction or a number out of range was found by
// fuzz_gptq_config).
template <typename T>
T get(const json& object, const std::string& key, const char* expected) {
  return sdk::json_value<T>(object, key, "gptq", "quantization_config", expected);
}

// Reads the keys we understand; synonyms are GPTQModel's (w_bit / wbits, q_group_size).
GptqConfig read(const json& c) {
  GptqConfig config;
  for (const char* key : {"bits", "w_bit", "wbits"})
    if (c.contains(key)) config.bits = get<int>(c, key, "an integer");
  for (const char* key : {"group_size", "q_group_size"})
    if (c.contains(key)) config.group_size = get<int64_t>(c, key, "an integer");
  if (c.contains("desc_act") && !c["desc_act"].is_null()) config.desc_act = get<bool>(c, "desc_act", "a boolean");
  if (c.contains("sym")) config.sym = get<bool>(c, "sym", "a boolean");
  if (c.contains("static_groups")) config.static_groups = get<bool>(c, "static_groups", "a boolean");
  // GPTQModel writes damp_percent and static_groups inside "meta".
  if (c.contains("meta") && c["meta"].is_object()) {
    const json& meta = c["meta"];
    if (meta.contains("damp_percent") && !meta["damp_percent"].is_null())
      config.damp_percent = get<double>(meta, "damp_percent", "a number");
    if (meta.contains("static_groups") && !meta["static_groups"].is_null())
      config.static_groups = get<bool>(meta, "static_groups", "a boolean");
  }
  if (c.contains("damp_percent") && !c["damp_percent"].is_null())
    config.damp_percent = get<double>(c, "damp_percent", "a number");

  // GPTQModel writes both "format" and its older alias "checkpoint_format".
  std::string format = "gptq";
  for (const char* key : {"format", "checkpoint_format"})
    if (c.contains(key) && !c[key].is_null()) format = get<std::string>(c, key, "a string");
  if (format == "gptq")
    config.checkpoint_format = CheckpointFormat::V1;
  else if (format == "gptq_v2")
    config.checkpoint_format = CheckpointFormat::V2;
  else
    throw std::invalid_argument(
        "gptq: quantization_config checkpoint_format \"" + format +
        "\" is not supported (expected \"gptq\" or \"gptq_v2\"; marlin and planar layouts are not)");
  if (c.contains("is_marlin_format") && c["is_marlin_format"].is_boolean() && c["is_marlin_format"].get<bool>())
    throw std::invalid_argument("gptq: quantization_config is_marlin_format true: the marlin layout is not supported");
  if (c.contains("pack_dtype") && !c["pack_dtype"].is_null() && c["pack_dtype"] != "int32")
    throw std::invalid_argument("gptq: quantization_config pack_dtype " + c["pack_dtype"].dump() +
                                " is not supported (expected \"int32\")");

  if (config.bits != 2 && config.bits != 3 && config.bits != 4 && config.bits != 8)
    throw std::invalid_argument("gptq: quantization_config bits must be 2, 3, 4 or 8, got " +
                                std::to_string(config.bits));
  if (config.group_size != -1 && config.group_size <= 0)
    throw std::invalid_argument("gptq: quantization_config group_size must be -1 or positive, got " +
                                std::to_string(config.group_size));
  if (!(config.damp_percent > 0 && config.damp_percent < 1))
    throw std::invalid_argument("gptq: quantization_config damp_percent must be in (0, 1), got " +
                                std::to_string(config.damp_percent));
  return config;
}

}  // namespace

GptqConfig GptqConfig::from_quantization_config(const std::string& json_text) {
  return read(parse(json_text, "quantization_config"));
}

GptqConfig GptqConfig::from_options(const std::string& json_text) {
  json options = parse(json_text, "options");
  sdk::reject_unknown_keys(options,
                           {"bits", "group_size", "desc_act", "sym", "static_groups", "damp_percent",
                            "checkpoint_format", "format", "pack_dtype", "quant_method", "method"},
                           "gptq", "option");
  for (const char* key : {"quant_method", "method"})
    if (options.contains(key) && options[key] != "gptq")
      throw std::invalid_argument(std::string("gptq: option ") + key + " must be \"gptq\", got " + options[key].dump());
  return read(options);
}

std::string GptqConfig::to_quantization_config() const {
  const char* format = checkpoint_format == CheckpointFormat::V1 ? "gptq" : "gptq_v2";
  json out = {{"quant_method", "gptq"},
              {"bits", bits},
              {"group_size", group_size},
              {"desc_act", desc_act},
              {"sym", sym},
              {"static_groups", static_groups},
              {"damp_percent", damp_percent},
              {"checkpoint_format", format},
              {"format", format},
              {"pack_dtype", "int32"},
              {"true_sequential", true},
              {"meta", {{"quantizer", json::array({"oft"})}}}};
  return out.dump();
}

bool is_gptq_quantization_config(const std::string& json_text) {
  if (json_text.empty()) return false;
  json c = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!c.is_object()) return false;
  for (const char* key : {"quant_method", "method"})
    if (c.contains(key) && c[key] == "gptq") return true;
  return false;
}

}  // namespace oft::gptq
