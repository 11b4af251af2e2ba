// null_entry: exports the entry point, which returns no descriptor.
#include "oft/sdk/plugin_abi.h"

extern "C" OFT_PLUGIN_EXPORT const OftPluginDescriptor* OFT_PLUGIN_ENTRY(void) { return nullptr; }
