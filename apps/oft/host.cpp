#include "host.h"

#include <nlohmann/json.hpp>

#include "oft/errors.h"

namespace oft::app {

void Host::configure(const std::filesystem::path& host_config) {
  const nlohmann::json config = read_host_config(host_config);
  for (const auto& [key, value] : config.items())
    if (key != "plugins" && key != "logging")
      throw ConfigError("unknown key '" + key + "' in host config " + host_config.string() +
                        " (expected plugins, logging)");
  if (config.contains("plugins"))
    settings_ = plugin_settings_from_json(config.at("plugins"), std::filesystem::absolute(host_config).parent_path());
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
