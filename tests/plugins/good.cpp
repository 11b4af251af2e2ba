// fixture_good: a well-built plugin whose dispatcher claims the FixtureLinear type it defines.
#include "fixture_dispatchers.h"

namespace {
void register_good(oft::sdk::Registrar& registrar) { oft::fixture::add_claiming_dispatcher(registrar, "fixture_good", 500); }
}  // namespace

OFT_PLUGIN("fixture_good", FIXTURE_GOOD_VERSION, register_good)
