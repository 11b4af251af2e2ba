// The inc backend plugin: the "inc" dispatcher (PEFT's priority 800) putting OFT on IncLinear, and the
// "inc_fp8" format.
#include <memory>

#include "inc_format.h"
#include "inc_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/plugin_config.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

void register_inc(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::inc::IncLinear>>("inc", 800));  // PEFT's place
  registrar.add_format(
      std::make_shared<oft::inc::IncFormat>(oft::sdk::read_cache_dequantized_config(registrar.config_json(), "inc")));
}

}  // namespace

OFT_PLUGIN("inc", "0.1.0", register_inc)
