// liboft_backend_bnb.so: bitsandbytes' LLM.int8 and NF4/FP4 linear layers for oft.
#include <memory>

#include "formats.h"
#include "linear4bit.h"
#include "linear8bit.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/plugin_config.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

void register_bnb(oft::sdk::Registrar& registrar) {
  oft::sdk::read_plugin_config(registrar.config_json(), "bnb", {});  // no settings: any key is a mistake
  // Each layer type is claimed by its own dispatcher, in PEFT's order (8-bit at 100, 4-bit at 200).
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::bnb::Linear8bitLt>>(oft::bnb::kFormat8bit, 100));
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::bnb::Linear4bit>>(oft::bnb::kFormat4bit, 200));
  registrar.add_format(std::make_shared<oft::bnb::Int8Format>());
  registrar.add_format(std::make_shared<oft::bnb::FourBitFormat>());
}

}  // namespace

OFT_PLUGIN("bnb", "0.1.0", register_bnb)
