#pragma once
// What every subcommand shares: the host config (--host-config FILE, JSON) with its "plugins"
// section (paths, require, disable, safe_scan, config) and "logging" section ({"level": "info"}),
// and the plugins it names, loaded once on first use.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "oft/plugin/plugin_host.h"

namespace oft::app {

class Host {
 public:
  // Reads the host config now (ConfigError / FormatError on a bad file); plugins load later.
  void configure(const std::filesystem::path& host_config);
  // The "logging.level" of the host config, if it sets one.
  const std::optional<std::string>& log_level() const { return log_level_; }

  // The plugins, loaded on first call: safe scanning on unless the config turns it off.
  const PluginHostResult& plugins();
  std::shared_ptr<DispatcherRegistry> dispatchers() { return plugins().registry; }
  std::shared_ptr<const FormatRegistry> formats() { return plugins().formats; }

  PluginSettings& settings() { return settings_; }
  void disable_safe_scan() { settings_.safe_scan = false; }

 private:
  PluginSettings settings_;
  std::optional<std::string> log_level_;
  std::optional<PluginHostResult> plugins_;
};

}  // namespace oft::app
