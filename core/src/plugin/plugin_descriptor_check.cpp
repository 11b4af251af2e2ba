#include "plugin/plugin_descriptor_check.h"

#include <cstddef>
#include <cstring>
#include <string>

#include <torch/version.h>

namespace oft::plugin {
namespace {

// The descriptor as ABI 1.0 defined it ends with register_dispatchers; later minors may append.
constexpr std::size_t kMinimumSize = offsetof(OftPluginDescriptor, register_dispatchers) + sizeof(void*);

std::string quoted(const char* text) { return std::string("'") + text + "'"; }

}  // namespace

std::string host_build_summary() {
  return std::string("LibTorch ") + TORCH_VERSION + ", C++11 ABI " + std::to_string(_GLIBCXX_USE_CXX11_ABI);
}

std::string descriptor_problem(const OftPluginDescriptor& d, const std::string& expected_name) {
  const std::string host_abi = std::to_string(OFT_PLUGIN_ABI_MAJOR) + "." + std::to_string(OFT_PLUGIN_ABI_MINOR);
  if (d.struct_size < kMinimumSize)
    return "descriptor is " + std::to_string(d.struct_size) + " bytes, expected at least " +
           std::to_string(kMinimumSize) + " (plugin ABI " + host_abi + ")";
  const std::string plugin_abi = std::to_string(d.abi_major) + "." + std::to_string(d.abi_minor);
  if (d.abi_major != OFT_PLUGIN_ABI_MAJOR)
    return "built for plugin ABI " + plugin_abi + "; this host speaks ABI major " +
           std::to_string(OFT_PLUGIN_ABI_MAJOR) + " (" + host_abi + "): the major must be equal";
  if (d.abi_minor > OFT_PLUGIN_ABI_MINOR)
    return "built for plugin ABI " + plugin_abi + ", newer than this host's " + host_abi +
           " (a host accepts plugins up to its own minor; update the host)";
  if (d.name == nullptr) return "descriptor field 'name' is null";
  if (d.name != expected_name)
    return "declares the name " + quoted(d.name) + " but the file name says " + quoted(expected_name.c_str()) +
           " (a plugin named <name> must be liboft_backend_<name>.so)";
  if (d.version == nullptr) return "descriptor field 'version' is null";
  if (d.torch_version == nullptr) return "descriptor field 'torch_version' is null";
  if (std::strcmp(d.torch_version, TORCH_VERSION) != 0 || d.cxx11_abi != _GLIBCXX_USE_CXX11_ABI)
    return std::string("built against LibTorch ") + d.torch_version + ", C++11 ABI " + std::to_string(d.cxx11_abi) +
           "; this host uses " + host_build_summary() +
           " (both must be equal: rebuild the plugin against this LibTorch)";
  if (d.register_dispatchers == nullptr) return "descriptor field 'register_dispatchers' is null";
  return "";
}

}  // namespace oft::plugin
