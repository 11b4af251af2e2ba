// adapter_config.json -> OFTConfig (PEFT's keys, types, ranges, old-format guard) on arbitrary JSON: the
// reader may only throw ConfigError (FormatError for the old format).
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "oft/adapter/config.h"
#include "oft/errors.h"
#include "oft/log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (oft::logger()->set_level(spdlog::level::off), true);
  (void)quiet;
  // Not JSON is OFTConfig::load's parse error; the reader proper starts from a parsed document.
  const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    const auto config = oft::OFTConfig::from_adapter_config(j);
    (void)config.to_json();  // what was accepted can be written back
  } catch (const oft::ConfigError&) {
  } catch (const oft::FormatError&) {
  }
  return 0;
}
