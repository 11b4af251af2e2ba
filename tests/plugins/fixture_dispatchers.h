#pragma once
// Dispatchers shared by the fixture plugins (compiled once, linked into several). Torch-free
// declarations so each plugin's entry file compiles without LibTorch headers.
#include "oft/sdk/plugin.h"

namespace oft::fixture {

// Adds a dispatcher `name` that claims FixtureLinear modules (the module type the fixture plugins
// define; tests make one through the exported oft_fixture_make_linear hook).
void add_claiming_dispatcher(sdk::Registrar& registrar, const char* name, int priority);

// Adds a dispatcher `name` whose claim() always throws std::runtime_error.
void add_throwing_dispatcher(sdk::Registrar& registrar, const char* name, int priority);

}  // namespace oft::fixture
