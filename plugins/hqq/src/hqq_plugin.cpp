// The hqq backend plugin: the "hqq" dispatcher (priority 700, after gptq's 600) putting OFT on
// HqqLinear, and the "hqq" format.
#include <memory>

#include "hqq_format.h"
#include "hqq_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/plugin_config.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

void register_hqq(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::hqq::HqqLinear>>("hqq", 700));
  registrar.add_format(
      std::make_shared<oft::hqq::HqqFormat>(oft::sdk::read_cache_dequantized_config(registrar.config_json(), "hqq")));
}

}  // namespace

OFT_PLUGIN("hqq", "0.1.0", register_hqq)
