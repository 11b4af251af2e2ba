// model.safetensors.index.json on arbitrary bytes, next to two small valid shards (shard-1 holds "a" and
// "b", shard-2 holds "c"): the checkpoint reader may only throw FormatError.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/ATen.h>
#include <unistd.h>

#include "hf/checkpoint_files.h"
#include "oft/errors.h"
#include "oft/io/safetensors.h"

namespace {

std::filesystem::path make_folder() {
  const auto dir = std::filesystem::temp_directory_path() / ("oft-fuzz-index-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  oft::safetensors::save(dir / "shard-1.safetensors", {{"a", at::ones({2, 3})}, {"b", at::zeros({4}, at::kInt)}});
  oft::safetensors::save(dir / "shard-2.safetensors", {{"c", at::ones({1}, at::kHalf)}});
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = make_folder();
  {
    std::ofstream index(dir / "model.safetensors.index.json", std::ios::binary | std::ios::trunc);
    index.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    oft::models::detail::read_checkpoint(dir);
  } catch (const oft::FormatError&) {
  }
  return 0;
}
