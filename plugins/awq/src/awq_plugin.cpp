// The awq backend plugin: the "awq" dispatcher (PEFT's priority 500) putting OFT on AwqLinear, and
// the "awq" format.
#include <memory>

#include "awq_format.h"
#include "awq_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/plugin_config.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

void register_awq(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::awq::AwqLinear>>("awq", 500));  // PEFT's place
  registrar.add_format(
      std::make_shared<oft::awq::AwqFormat>(oft::sdk::read_cache_dequantized_config(registrar.config_json(), "awq")));
}

}  // namespace

OFT_PLUGIN("awq", "0.1.0", register_awq)
