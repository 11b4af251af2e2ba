#pragma once
// Error types thrown by the host library. Every message names the thing that was wrong and what was
// expected, so callers can show it to users as is.
#include <stdexcept>
#include <string>

#include "oft/export.h"

namespace oft {

// Invalid configuration: a bad key, value or combination in an OFTConfig or a host config.
struct OFT_CORE_API ConfigError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A request that does not fit the model or layer it is applied to (shapes, dtypes, adapter names).
struct OFT_CORE_API UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A backend plugin that could not be used where the configuration requires it (plugins.require).
struct OFT_CORE_API PluginError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A file that is missing, unreadable, malformed or from an unsupported format version.
struct OFT_CORE_API FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace oft
