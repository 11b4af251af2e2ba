// The eetq backend plugin: the "eetq" dispatcher (PEFT's priority 300) putting OFT on EetqLinear, and the
// "eetq" format.
#include <memory>

#include "eetq_format.h"
#include "eetq_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/plugin_config.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

void register_eetq(oft::sdk::Registrar& registrar) {
  registrar.add(
      std::make_shared<oft::sdk::TypedDispatcher<oft::eetq::EetqLinear>>("eetq", 300));  // PEFT's place for eetq
  registrar.add_format(std::make_shared<oft::eetq::EetqFormat>(
      oft::sdk::read_cache_dequantized_config(registrar.config_json(), "eetq")));
}

}  // namespace

OFT_PLUGIN("eetq", "0.1.0", register_eetq)
