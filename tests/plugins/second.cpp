// fixture_second: another good plugin at the same priority as fixture_good (asked after it: ties
// go by name).
#include "fixture_dispatchers.h"

namespace {
void register_second(oft::sdk::Registrar& registrar) { oft::fixture::add_claiming_dispatcher(registrar, "fixture_second", 500); }
}  // namespace

OFT_PLUGIN("fixture_second", "2.1.0", register_second)
