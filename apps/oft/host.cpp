#include "host.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "oft/errors.h"

namespace oft::app {

void Host::configure(const std::filesystem::path& host_config) {
  std::ifstream in(host_config);
  if (!in) throw FormatError("cannot read host config " + host_config.string());
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError("host config " + host_config.string() + " is not valid JSON: " + e.what());
  }
  if (!config.is_object()) throw ConfigError("host config " + host_config.string() + " must hold a JSON object");
  for (const auto& [key, value] : config.items())
    if (key != "plugins" && key != "logging")
      throw ConfigError("unknown key '" + key + "' in host config " + host_config.string() + " (expected plugins, logging)");
  settings_ = read_plugin_settings(host_config);
  if (config.contains("logging")) {
    const auto& logging = config.at("logging");
    if (!logging.is_object() || logging.size() != 1 || !logging.contains("level") || !logging.at("level").is_string())
      throw ConfigError("host config 'logging' must be {\"level\": \"trace|debug|info|warn|error|off\"}, found " +
                        logging.dump());
    log_level_ = logging.at("level").get<std::string>();
  }
}

const PluginHostResult& Host::plugins() {
  if (!plugins_) {
    PluginHostOptions options;
    options.settings = settings_;
    options.safe_scan = settings_.safe_scan.value_or(true);  // a crashing plugin must not take the command down
    plugins_ = load_plugins(options);
  }
  return *plugins_;
}

}  // namespace oft::app
