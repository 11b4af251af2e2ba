// The gptq backend plugin: the "gptq" dispatcher (PEFT's priority 600) putting OFT on GptqLinear,
// and the "gptq" format.
#include <memory>

#include "gptq_format.h"
#include "gptq_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/plugin_config.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

void register_gptq(oft::sdk::Registrar& registrar) {
  registrar.add(
      std::make_shared<oft::sdk::TypedDispatcher<oft::gptq::GptqLinear>>("gptq", 600));  // PEFT's place for gptq
  registrar.add_format(std::make_shared<oft::gptq::GptqFormat>(
      oft::sdk::read_cache_dequantized_config(registrar.config_json(), "gptq")));
}

}  // namespace

OFT_PLUGIN("gptq", "0.1.0", register_gptq)
