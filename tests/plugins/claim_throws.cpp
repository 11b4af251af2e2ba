// claim_throws: loads fine, but its dispatcher (asked first, priority 50) throws while claiming.
#include "fixture_dispatchers.h"

namespace {
void register_claim_throws(oft::sdk::Registrar& registrar) { oft::fixture::add_throwing_dispatcher(registrar, "claim_throws", 50); }
}  // namespace

OFT_PLUGIN("claim_throws", "0.1.0", register_claim_throws)
