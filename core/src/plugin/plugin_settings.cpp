#include "oft/plugin/plugin_settings.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "oft/errors.h"

namespace oft {
namespace {

std::vector<std::string> string_list(const nlohmann::json& plugins, const char* key) {
  std::vector<std::string> out;
  if (!plugins.contains(key)) return out;
  const auto& list = plugins.at(key);
  if (!list.is_array()) throw ConfigError(std::string("plugins.") + key + " must be a list of strings");
  for (const auto& item : list) {
    if (!item.is_string())
      throw ConfigError(std::string("plugins.") + key + " must be a list of strings, found " + item.dump());
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

PluginSettings plugin_settings_from_json(const nlohmann::json& plugins, const std::filesystem::path& base_folder) {
  if (!plugins.is_object())
    throw ConfigError("the host config's \"plugins\" must be an object, found " + plugins.dump());
  for (const auto& [key, value] : plugins.items())
    if (key != "paths" && key != "require" && key != "disable" && key != "safe_scan" && key != "config")
      throw ConfigError("unknown key plugins." + key +
                        " in the host config (expected paths, require, disable, safe_scan, config)");
  PluginSettings settings;
  for (const auto& path : string_list(plugins, "paths")) settings.paths.push_back(base_folder / path);
  settings.require = string_list(plugins, "require");
  settings.disable = string_list(plugins, "disable");
  if (plugins.contains("safe_scan")) {
    if (!plugins.at("safe_scan").is_boolean()) throw ConfigError("plugins.safe_scan must be true or false");
    settings.safe_scan = plugins.at("safe_scan").get<bool>();
  }
  if (plugins.contains("config")) {
    const auto& config = plugins.at("config");
    if (!config.is_object()) throw ConfigError("plugins.config must be an object of plugin name -> settings object");
    for (const auto& [name, section] : config.items()) {
      if (!section.is_object())
        throw ConfigError("plugins.config." + name + " must be an object, found " + section.dump());
      settings.config[name] = section.dump();
    }
  }
  return settings;
}

nlohmann::json read_host_config(const std::filesystem::path& host_config) {
  std::ifstream in(host_config);
  if (!in) throw FormatError("cannot read host config " + host_config.string());
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError("host config " + host_config.string() + " is not valid JSON: " + e.what());
  }
  if (!config.is_object()) throw FormatError("host config " + host_config.string() + " must hold a JSON object");
  return config;
}

PluginSettings read_plugin_settings(const std::filesystem::path& host_config) {
  const nlohmann::json config = read_host_config(host_config);
  if (!config.contains("plugins")) return {};
  return plugin_settings_from_json(config.at("plugins"), std::filesystem::absolute(host_config).parent_path());
}

}  // namespace oft
