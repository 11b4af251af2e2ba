#pragma once
// A plugin's own section of the host config ({"plugins": {"config": {"<name>": {...}}}}, handed over as
// Registrar::config_json()), read strictly: a key the plugin does not know is an error, as a misspelt setting
// would otherwise leave its default in place unnoticed. The host makes a section its plugin refuses a
// configuration error of the command. Header-only; needs nlohmann/json.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"

namespace oft::sdk {

// The section as a JSON object ("" and "{}" read as {}) whose keys are all in `known`; std::invalid_argument
// "<plugin>: unknown plugin config key \"<key>\" (expected ...)" otherwise.
inline nlohmann::json read_plugin_config(const std::string& config_json, const std::string& plugin,
                                         const std::vector<std::string>& known) {
  nlohmann::json config = parse_json_object(config_json, plugin, "plugin config");
  reject_unknown_keys(config, known, plugin, "plugin config key");
  return config;
}

// The section of a plugin whose layers can keep their dequantized weight (dequantized_weight_cache.h):
// {"cache_dequantized": bool}, false when absent.
inline bool read_cache_dequantized_config(const std::string& config_json, const std::string& plugin) {
  const nlohmann::json config = read_plugin_config(config_json, plugin, {"cache_dequantized"});
  return config.contains("cache_dequantized") &&
         json_value<bool>(config, "cache_dequantized", plugin, "plugin config", "a boolean");
}

}  // namespace oft::sdk
