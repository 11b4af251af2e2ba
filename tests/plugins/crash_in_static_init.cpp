// crash_segv / crash_abort: die while the library is being loaded (a static initializer), before
// the host can call anything. Only safe scanning survives these. CRASH_SIGNAL is SIGSEGV or SIGABRT.
#include <csignal>

#include "oft/sdk/plugin.h"

namespace {
void register_nothing(oft::sdk::Registrar&) {}
[[maybe_unused]] const int crash_on_load = [] { return std::raise(CRASH_SIGNAL); }();
}  // namespace

OFT_PLUGIN(FIXTURE_NAME, "0.0.1", register_nothing)
