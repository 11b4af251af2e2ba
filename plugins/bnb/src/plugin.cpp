// liboft_backend_bnb.so: bitsandbytes' LLM.int8 and NF4/FP4 linear layers for oft.
#include <memory>

#include "dispatchers.h"
#include "formats.h"
#include "oft/sdk/plugin.h"

namespace {

void register_bnb(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::bnb::Int8Dispatcher>());
  registrar.add(std::make_shared<oft::bnb::FourBitDispatcher>());
  registrar.add_format(std::make_shared<oft::bnb::Int8Format>());
  registrar.add_format(std::make_shared<oft::bnb::FourBitFormat>());
}

}  // namespace

OFT_PLUGIN("bnb", "0.1.0", register_bnb)
