#pragma once
// The "plugins" section of the host's JSON config:
//   {"plugins": {"paths": ["/opt/oft/plugins"], "require": ["gptq"], "disable": ["bnb"],
//                "safe_scan": true, "config": {"gptq": {...}}}}
// plugins.config holds each plugin's own settings, handed to it as JSON text when it registers.
// Other top-level keys belong to other parts of the host and are left alone.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "oft/export.h"

namespace oft {

struct PluginSettings {
  std::vector<std::filesystem::path> paths;   // folders (or plugin files) searched after OFT_PLUGIN_PATH
  std::vector<std::string> require;           // plugin names that must load, else PluginError
  std::vector<std::string> disable;           // plugin names never loaded
  std::optional<bool> safe_scan;              // unset: the host application's default
  std::map<std::string, std::string> config;  // plugin name -> its settings as JSON text
};

// Reads the "plugins" object; ConfigError on unknown keys or wrong types. Relative paths are taken
// relative to `base_folder` (the config file's folder).
OFT_CORE_API PluginSettings plugin_settings_from_json(const nlohmann::json& plugins,
                                                      const std::filesystem::path& base_folder);

// A host config file as a JSON object; FormatError if it cannot be read, is not JSON or not an object.
OFT_CORE_API nlohmann::json read_host_config(const std::filesystem::path& host_config);

// Reads the "plugins" section of a host config file (none: default settings). FormatError if the
// file cannot be read or is not JSON.
OFT_CORE_API PluginSettings read_plugin_settings(const std::filesystem::path& host_config);

}  // namespace oft
