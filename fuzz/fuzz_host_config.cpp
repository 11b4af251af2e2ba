// The host config (--host-config FILE) on arbitrary bytes: the file reader, then its "plugins" section
// as the host reads it. Only FormatError (not JSON / not an object) and ConfigError may come out.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "oft/errors.h"
#include "oft/plugin/plugin_settings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("oft-fuzz-host-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const nlohmann::json config = oft::read_host_config(file);
    if (config.contains("plugins")) oft::plugin_settings_from_json(config.at("plugins"), file.parent_path());
  } catch (const oft::FormatError&) {
  } catch (const oft::ConfigError&) {
  }
  return 0;
}
