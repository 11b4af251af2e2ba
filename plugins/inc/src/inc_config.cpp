#include "inc_config.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"

namespace oft::inc {
namespace {

using nlohmann::json;

// The scale methods the native quantizer implements (INC's names; the per-channel one is the only
// per-channel method INC offers that needs no Gaudi-specific scale table).
const std::set<std::string> kQuantizerMethods{"maxabs_pow2", "maxabs_arbitrary",
                                              "act_maxabs_pow2_weights_pcs_maxabs_pow2"};

std::string string_key(const json& c, const char* key, const char* what, const std::set<std::string>& allowed) {
  const json& v = c.at(key);
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  if (!v.is_string() || (!allowed.empty() && !allowed.count(v.get<std::string>())))
    throw std::invalid_argument(std::string("inc: ") + what + " \"" + key + "\" must be one of " + list + ", got " +
                                v.dump());
  return v.get<std::string>();
}

IncConfig read(const json& c, const char* what, const std::set<std::string>& methods) {
  IncConfig config;
  if (c.contains("fp8_config")) config.fp8_config = string_key(c, "fp8_config", what, {"E4M3", "E5M2"});
  if (c.contains("scale_method")) {
    // A dict scale_method (INC's custom per-tensor-type settings) keeps its text; it loads like pow2.
    config.scale_method = c.at("scale_method").is_object() && methods.empty()
                              ? c.at("scale_method").dump()
                              : string_key(c, "scale_method", what, methods);
  }
  if (c.contains("scale_format")) config.scale_format = string_key(c, "scale_format", what, {"scalar", "const"});
  if (c.contains("hp_dtype")) config.hp_dtype = string_key(c, "hp_dtype", what, {"bf16", "fp16", "fp32"});
  return config;
}

}  // namespace

bool IncConfig::per_channel_weight() const { return scale_method.find("pcs") != std::string::npos; }
bool IncConfig::pow2_weight() const { return scale_method != "maxabs_arbitrary"; }
bool IncConfig::pow2_input() const {
  return scale_method == "maxabs_pow2" || scale_method.rfind("act_maxabs_pow2", 0) == 0;
}

IncConfig IncConfig::from_quantization_config(const std::string& json_text) {
  return read(sdk::parse_json_object(json_text, "inc", "quantization_config"), "quantization_config", {});
}

IncConfig IncConfig::from_options(const std::string& json_text) {
  json options = sdk::parse_json_object(json_text, "inc", "quantize options");
  sdk::reject_unknown_keys(options, {"fp8_config", "scale_method", "scale_format", "hp_dtype", "blocklist"}, "inc",
                           "quantize option");
  IncConfig config = read(options, "quantize option", kQuantizerMethods);
  if (options.contains("blocklist")) {
    const json& b = options.at("blocklist");
    auto string_list = [&](const char* key) {
      if (!b.contains(key)) return json::array();
      if (!b.at(key).is_array() ||
          !std::all_of(b.at(key).begin(), b.at(key).end(), [](const json& v) { return v.is_string(); }))
        throw std::invalid_argument(std::string("inc: quantize option \"blocklist\" \"") + key +
                                    "\" must be a list of strings, got " + b.at(key).dump());
      return b.at(key);
    };
    if (!b.is_object())
      throw std::invalid_argument(
          "inc: quantize option \"blocklist\" must be an object {\"names\": [...], "
          "\"types\": [...]}, got " +
          b.dump());
    config.blocklist = json{{"names", string_list("names")}, {"types", string_list("types")}}.dump();
  }
  // INC registers per-channel scales in CONST format only.
  if (config.per_channel_weight()) {
    if (!options.contains("scale_format")) config.scale_format = "const";
    if (config.scale_format != "const")
      throw std::invalid_argument(
          "inc: quantize option \"scale_format\" must be \"const\" for the per-channel "
          "scale_method " +
          config.scale_method + ", got \"scalar\"");
  }
  return config;
}

std::string IncConfig::to_quantization_config() const {
  json c = {{"_json_file", nullptr},
            {"allowlist", {{"names", json::array()}, {"types", {"Linear", "Conv2d", "EmbeddingBag"}}}},
            {"blocklist", json::parse(blocklist)},
            {"dump_stats_path", "./hqt_output/measure"},
            {"fake_quant", "False"},
            {"fp8_config", fp8_config},
            {"hp_dtype", hp_dtype},
            {"measure_exclude", "OUTPUT"},
            {"measure_on_hpu", true},
            {"mod_dict", json::object()},
            {"mode", "LOAD"},
            {"non_tunable_params", {"white_list"}},
            {"observer", "maxabs"},
            {"scale_format", scale_format},
            {"scale_method", scale_method},
            {"scale_params", json::object()},
            {"use_qdq", "True"},
            {"world_size", -1}};
  return c.dump();
}

bool is_inc_quantization_config(const std::string& json_text) {
  if (json_text.empty()) return false;
  json c = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  return c.is_object() && !c.contains("quant_method") && c.contains("fp8_config") && c.contains("scale_method");
}

}  // namespace oft::inc
