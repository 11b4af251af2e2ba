#pragma once
// A way `oft quantize --method <name>` quantizes a model's linear layers with a LinearFormat
// (linear_format.h). Torch-free, so that hosts can list methods without LibTorch headers.
#include <string>

namespace oft::sdk {

struct QuantizeMethod {
  std::string name;                         // the --method value, unique among loaded formats, e.g. "bnb-nf4"
  std::string description;                  // one line, shown by `oft quantize --help` and `oft plugins`
  std::string default_options_json = "{}";  // a JSON object; the user's --options override it key by key
  bool needs_calibration = false;           // quantize() needs calibration activations (else it gets none)
};

}  // namespace oft::sdk
