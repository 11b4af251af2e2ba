// One plugin per bad descriptor field, hand-written as a non-SDK build might produce it. The build
// defines FIXTURE_NAME and one of: SHORT_STRUCT, ABI_MAJOR_TOO_NEW, ABI_MINOR_TOO_NEW, OTHER_TORCH,
// OTHER_CXX_ABI, WRONG_NAME.
#include "oft/sdk/plugin.h"

namespace {
OftPluginStatus register_nothing(OftRegistrar*, char*, size_t) { return OFT_PLUGIN_OK; }
}  // namespace

#if defined(ABI_MAJOR_TOO_NEW)
#if OFT_PLUGIN_ABI_MAJOR != 2
#error "name the entry point of the next ABI major below"
#endif
#define ENTRY oft_plugin_descriptor_v3  // a major bump renames the entry point
#else
#define ENTRY OFT_PLUGIN_ENTRY
#endif

extern "C" OFT_PLUGIN_EXPORT const OftPluginDescriptor* ENTRY(void);
const OftPluginDescriptor* ENTRY(void) {
  static const OftPluginDescriptor descriptor = {
#if defined(SHORT_STRUCT)
      8,  // as if the descriptor had only its version fields
#else
      sizeof(OftPluginDescriptor),
#endif
#if defined(ABI_MAJOR_TOO_NEW)
      OFT_PLUGIN_ABI_MAJOR + 1,
#else
      OFT_PLUGIN_ABI_MAJOR,
#endif
#if defined(ABI_MINOR_TOO_NEW)
      OFT_PLUGIN_ABI_MINOR + 1,
#else
      OFT_PLUGIN_ABI_MINOR,
#endif
#if defined(WRONG_NAME)
      "some_other_name",
#else
      FIXTURE_NAME,
#endif
      "0.0.1",
#if defined(OTHER_TORCH)
      "2.14.0",
#else
      TORCH_VERSION,
#endif
#if defined(OTHER_CXX_ABI)
      1 - _GLIBCXX_USE_CXX11_ABI,
#else
      _GLIBCXX_USE_CXX11_ABI,
#endif
      register_nothing};
  return &descriptor;
}
