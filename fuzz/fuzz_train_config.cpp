// TRAIN.json (`oft train`) on arbitrary bytes, through the file reader: it may only throw ConfigError.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "oft/errors.h"
#include "oft/log.h"
#include "train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("oft-fuzz-train-" + std::to_string(::getpid()) + ".json");
  static const bool quiet = (oft::logger()->set_level(spdlog::level::off), true);
  (void)quiet;
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    oft::app::TrainConfig::load(file);
  } catch (const oft::ConfigError&) {
  }
  return 0;
}
