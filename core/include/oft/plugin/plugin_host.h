#pragma once
// The plugin host: finds backend plugins (liboft_backend_<name>.so), checks each one's descriptor
// before any C++ call, loads the good ones and adds their dispatchers to a registry that also holds
// the built-in "default". Bad plugins are reported with the file and the reason; the host goes on.
//
// Search order: OFT_PLUGIN_PATH (colon-separated), the host config's plugins.paths, then the
// plugin folder of the build or install, <folder of liboft_core>/oft/plugins.
//
// With safe scanning on, a plugin file not seen before is first loaded in a child process
// (oft-plugin-scan), so one that crashes while loading is rejected instead of taking the host down.
// Verdicts are remembered by path, size and modification time.
//
// Lifetime: a plugin whose registration succeeded is never unloaded (as LLVM's pass plugins and
// ggml's backends): modules, tensor deleters and op registrations it made can outlive every handle
// the host tracks (a module taken out of the model, an autograd node), and unloading LibTorch
// extensions at exit is a known crash. So nothing the host holds (registries, claims, layers) keeps
// a plugin's library alive; its code stays mapped until the process ends.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "oft/export.h"
#include "oft/plugin/plugin_settings.h"
#include "oft/sdk/quantize_method.h"

namespace oft {

class DispatcherRegistry;
class FormatRegistry;

struct PluginHostOptions {
  PluginSettings settings;           // plugins.paths / require / disable from the host config
  bool use_environment = true;       // read OFT_PLUGIN_PATH
  bool use_install_folder = true;    // search <folder of liboft_core>/oft/plugins
  bool safe_scan = false;            // vet new plugin files in a child process first
  std::filesystem::path scanner;     // empty: $OFT_PLUGIN_SCANNER, else <folder of liboft_core>/../bin/oft-plugin-scan
  std::filesystem::path scan_cache;  // empty: default_scan_cache_path()
};

enum class PluginStatus { Loaded, Rejected, Disabled };

struct PluginFileReport {
  std::filesystem::path file;
  std::string origin;  // "OFT_PLUGIN_PATH", "plugins.paths" or "install folder"
  PluginStatus status = PluginStatus::Rejected;
  std::string name;                      // from the file name: liboft_backend_<name>.so
  std::string version;                   // the plugin's own version, once its descriptor was read
  std::string reason;                    // why it was rejected or disabled
  std::vector<std::string> dispatchers;  // names of the dispatchers it registered (loaded only)
  std::vector<std::string> formats;      // names of the quantized-linear formats it registered (loaded only)
};

struct PluginFolderReport {
  std::filesystem::path folder;
  std::string origin;
  std::string problem;  // empty when the folder was read (or is absent: that is not a problem)
};

struct DispatcherSummary {
  std::string name;
  int priority = 0;
  std::string origin;  // "built in" or "plugin '<name>' (<file>)"
};

struct FormatSummary {
  std::string name;
  std::string origin;                        // "plugin '<name>' (<file>)"
  std::vector<sdk::QuantizeMethod> methods;  // what `oft quantize --method` can use it for
};

struct PluginHostResult {
  std::shared_ptr<DispatcherRegistry> registry;  // "default" plus the loaded plugins' dispatchers
  std::shared_ptr<FormatRegistry> formats;       // the loaded plugins' loaders and quantizers
  std::vector<PluginFolderReport> folders;       // in search order
  std::vector<PluginFileReport> files;           // every liboft_backend_*.so found, in search order
  std::vector<DispatcherSummary> dispatchers;    // the registry's dispatchers in the order they are asked
  std::vector<FormatSummary> format_summaries;   // the loaded formats, by name
};

// Throws ConfigError when plugins.config has a section for a name no plugin file found has, and
// PluginError when a plugin named in plugins.require is missing, disabled or rejected.
OFT_CORE_API PluginHostResult load_plugins(const PluginHostOptions& options);

// Loads one plugin file in this process and checks it as load_plugins would (without the search,
// disable, duplicate and scan steps). Used by the oft-plugin-scan child process.
OFT_CORE_API PluginFileReport vet_plugin_file(const std::filesystem::path& file);

OFT_CORE_API std::string to_string(PluginStatus status);

}  // namespace oft
