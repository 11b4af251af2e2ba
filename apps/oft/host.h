#pragma once
// What every subcommand shares: the host config (--host-config FILE, JSON) with its "plugins"
// section (paths, require, disable, safe_scan, config) and "logging" section ({"level": "info"}),
// the data-parallel defaults ("distributed": {"backend": "gloo", "timeout_s": 300, "bucket_mb": 25}),
// the compute defaults ("device": "cuda:0", "dtype": "bf16", "eval_weight_cache": false; compute_options.h),
// and the plugins it names, loaded once on first use.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "oft/plugin/plugin_host.h"
#include "train/distributed_settings.h"

namespace oft::app {

class Host {
 public:
  // Reads the host config now (ConfigError / FormatError on a bad file); plugins load later.
  void configure(const std::filesystem::path& host_config);
  // The "logging.level" of the host config, if it sets one.
  const std::optional<std::string>& log_level() const { return log_level_; }
  // The host config's "device", "dtype" and "eval_weight_cache" (the flags of each command win).
  const std::optional<c10::Device>& device() const { return device_; }
  const std::optional<c10::ScalarType>& dtype() const { return dtype_; }
  bool eval_weight_cache() const { return eval_weight_cache_; }
  // The host config's "distributed" section (train/distributed_settings.h): TRAIN.json's keys win.
  const DistributedSettings& distributed() const { return distributed_; }

  // The plugins, loaded on first call: safe scanning on unless the config turns it off.
  const PluginHostResult& plugins();
  std::shared_ptr<DispatcherRegistry> dispatchers() { return plugins().registry; }
  std::shared_ptr<const FormatRegistry> formats() { return plugins().formats; }

  PluginSettings& settings() { return settings_; }
  void disable_safe_scan() { settings_.safe_scan = false; }

 private:
  PluginSettings settings_;
  std::optional<std::string> log_level_;
  std::optional<c10::Device> device_;
  std::optional<c10::ScalarType> dtype_;
  bool eval_weight_cache_ = true;
  DistributedSettings distributed_;
  std::optional<PluginHostResult> plugins_;
};

}  // namespace oft::app
