// A plugin's C descriptor as a hostile library could fill it (any sizes, versions, names, entry
// pointer) against the host: descriptor_problem must answer with a text, never crash. The strings are
// NUL-terminated (the check reads C strings, as the ABI says).
#include <cstddef>
#include <cstdint>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "plugin/plugin_descriptor_check.h"

namespace {
OftPluginStatus dummy_register(OftRegistrar*, char*, size_t) { return OFT_PLUGIN_FAILED; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  OftPluginDescriptor d{};
  d.struct_size = in.ConsumeBool() ? sizeof(OftPluginDescriptor) : in.ConsumeIntegral<uint32_t>();
  d.abi_major = in.ConsumeIntegral<uint16_t>();
  d.abi_minor = in.ConsumeIntegral<uint16_t>();
  d.cxx11_abi = in.ConsumeIntegral<int32_t>();
  const std::string name = in.ConsumeRandomLengthString(64);
  const std::string version = in.ConsumeRandomLengthString(64);
  const std::string torch_version = in.ConsumeRandomLengthString(64);
  const bool with_name = in.ConsumeBool(), with_version = in.ConsumeBool(), with_torch = in.ConsumeBool();
  d.name = with_name ? name.c_str() : nullptr;
  d.version = with_version ? version.c_str() : nullptr;
  d.torch_version = with_torch ? torch_version.c_str() : nullptr;
  d.register_dispatchers = in.ConsumeBool() ? dummy_register : nullptr;
  const std::string expected = in.ConsumeRemainingBytesAsString();
  (void)oft::plugin::descriptor_problem(d, expected);
  return 0;
}
