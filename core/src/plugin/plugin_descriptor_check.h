#pragma once
// Checks a plugin's C descriptor against this host before anything C++ in the plugin is called.
#include <string>

#include "oft/sdk/plugin_abi.h"

namespace oft::plugin {

// Empty when the plugin may be used; otherwise why not, naming both sides' values. `expected_name`
// comes from the file name (liboft_backend_<name>.so).
std::string descriptor_problem(const OftPluginDescriptor& descriptor, const std::string& expected_name);

// What this host was built with, as the descriptor states it: "LibTorch 2.15.0, C++11 ABI 1".
std::string host_build_summary();

}  // namespace oft::plugin
