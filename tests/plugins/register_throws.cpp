// register_throws: its registration function throws; OFT_PLUGIN turns that into an error text.
#include <stdexcept>

#include "oft/sdk/plugin.h"

namespace {
void register_throws(oft::sdk::Registrar&) { throw std::runtime_error("fixture registration cannot find its kernels"); }
}  // namespace

OFT_PLUGIN("register_throws", "0.1.0", register_throws)
