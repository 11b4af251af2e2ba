#pragma once
// Opening one plugin library: file checks, dlopen through Boost.DLL, the descriptor handshake, and
// the call to its register function. Nothing here knows about search paths or the registry.
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace oft::sdk {
class Dispatcher;
class LinearFormat;
}  // namespace oft::sdk

namespace oft::plugin {

// Why a plugin file was rejected; the message is the reason alone (callers add the file name).
struct Rejection : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct OpenedPlugin {
  std::string name;
  std::string version;
  std::vector<std::shared_ptr<sdk::Dispatcher>> dispatchers;  // as registered, not yet checked
  std::vector<std::shared_ptr<sdk::LinearFormat>> formats;    // as registered, not yet checked
};

// Throws Rejection with the specific reason: not an ELF shared library, cannot be loaded, no entry
// symbol (or the entry of another ABI major), null descriptor, descriptor mismatch, registration failed.
// `config_json` is the plugin's section of the host config ("{}" when none), handed to its registration.
// A plugin whose registration succeeded stays loaded for the life of the process (plugin_host.h).
OpenedPlugin open_plugin(const std::filesystem::path& file, const std::string& expected_name,
                         const std::string& config_json = "{}");

}  // namespace oft::plugin
