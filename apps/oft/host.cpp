#include "host.h"

#include <nlohmann/json.hpp>

#include "oft/device/device.h"
#include "oft/errors.h"
#include "train/distributed_settings.h"

namespace oft::app {

void Host::configure(const std::filesystem::path& host_config) {
  const nlohmann::json config = read_host_config(host_config);
  for (const auto& [key, value] : config.items())
    if (key != "plugins" && key != "logging" && key != "device" && key != "dtype" && key != "eval_weight_cache" &&
        key != "distributed")
      throw ConfigError("unknown key '" + key + "' in host config " + host_config.string() +
                        " (expected plugins, logging, device, dtype, eval_weight_cache, distributed)");
  if (config.contains("plugins"))
    settings_ = plugin_settings_from_json(config.at("plugins"), std::filesystem::absolute(host_config).parent_path());
  if (config.contains("logging")) {
    const auto& logging = config.at("logging");
    if (logging.is_object())
      for (const auto& [key, value] : logging.items())
        if (key != "level")
          throw ConfigError("unknown key '" + key + "' in host config " + host_config.string() +
                            ": logging (expected level)");
    if (!logging.is_object() || !logging.contains("level") || !logging.at("level").is_string())
      throw ConfigError("host config 'logging' must be {\"level\": \"trace|debug|info|warn|error|off\"}, found " +
                        logging.dump());
    log_level_ = logging.at("level").get<std::string>();
  }
  auto text = [&](const char* key) {
    if (!config.at(key).is_string())
      throw ConfigError(std::string("host config '") + key + "' must be a string, found " + config.at(key).dump());
    return config.at(key).get<std::string>();
  };
  try {
    if (config.contains("device")) device_ = parse_device(text("device"), "host config 'device'");
    if (config.contains("dtype")) dtype_ = parse_dtype(text("dtype"), "host config 'dtype'");
  } catch (const UsageError& e) {
    throw ConfigError(e.what());
  }
  if (config.contains("eval_weight_cache")) {
    if (!config.at("eval_weight_cache").is_boolean())
      throw ConfigError("host config 'eval_weight_cache' must be true or false, found " +
                        config.at("eval_weight_cache").dump());
    eval_weight_cache_ = config.at("eval_weight_cache").get<bool>();
  }
  if (config.contains("distributed"))
    distributed_ = distributed_settings_from_json(config.at("distributed"),
                                                  "host config " + host_config.string() + ": distributed");
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
