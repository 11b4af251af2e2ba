// The aqlm backend plugin: the "aqlm" dispatcher (PEFT's priority 400) putting OFT on AqlmLinear, and the
// "aqlm" format.
#include <memory>

#include "aqlm_format.h"
#include "aqlm_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/plugin_config.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

void register_aqlm(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::aqlm::AqlmLinear>>("aqlm", 400));
  registrar.add_format(std::make_shared<oft::aqlm::AqlmFormat>(
      oft::sdk::read_cache_dequantized_config(registrar.config_json(), "aqlm")));
}

}  // namespace

OFT_PLUGIN("aqlm", "0.1.0", register_aqlm)
