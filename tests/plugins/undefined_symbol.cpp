// undefined_symbol: links (without -z defs) against a function no library provides, as a plugin
// built against another LibTorch would; RTLD_NOW makes dlopen fail instead of crashing later.
#include "oft/sdk/plugin.h"

extern "C" int oft_fixture_function_nobody_defines(void);

namespace {
void register_calls_missing(oft::sdk::Registrar&) { oft_fixture_function_nobody_defines(); }
}  // namespace

OFT_PLUGIN("undefined_symbol", "0.0.1", register_calls_missing)
