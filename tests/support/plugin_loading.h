#pragma once
// Loading one built backend plugin in a test, apart from whatever else the machine has installed.
#include <filesystem>
#include <string>

#include "oft/plugin/plugin_host.h"

namespace oft::test {

// Loads only the plugin file `path` (not its neighbours, not $OFT_PLUGIN_PATH, not the install folder) and
// requires that it registers the plugin `name` (PluginError otherwise).
inline PluginHostResult load_only_plugin(const std::filesystem::path& path, const std::string& name) {
  PluginHostOptions options;
  options.settings.paths = {path};
  options.settings.require = {name};
  options.use_environment = false;
  options.use_install_folder = false;
  return load_plugins(options);
}

}  // namespace oft::test
