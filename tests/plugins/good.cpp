// fixture_good: a well-built plugin whose dispatcher claims the FixtureLinear type it defines. Its
// settings from the host config (plugins.config.fixture_good) can make it refuse to register, which
// shows that the settings reach the plugin.
#include <stdexcept>
#include <string>

#include "fixture_dispatchers.h"

namespace {
void register_good(oft::sdk::Registrar& registrar) {
  const std::string config = registrar.config_json();
  if (config.find("\"refuse\"") != std::string::npos) throw std::runtime_error("refused by its settings " + config);
  oft::fixture::add_claiming_dispatcher(registrar, "fixture_good", 500);
}
}  // namespace

OFT_PLUGIN("fixture_good", FIXTURE_GOOD_VERSION, register_good)
