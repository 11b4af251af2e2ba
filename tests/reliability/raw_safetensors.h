#pragma once
// Byte-level safetensors editing for building corrupted checkpoints: the header as JSON and the data
// section as bytes, written back without any of the reader's or writer's checks.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace oft::test {

std::string read_bytes(const std::filesystem::path& path);
void write_bytes(const std::filesystem::path& path, const std::string& bytes);

struct RawSafetensors {
  nlohmann::json header;
  std::string data;

  static RawSafetensors read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
  // Drops tensor `name` and lays the others out again without gaps.
  void remove(const std::string& name);
  // Gives tensor `name` a new dtype and shape with zero bytes of the matching size, laid out again.
  void replace(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape);
  // Names of the tensors (not __metadata__), in header order.
  std::vector<std::string> names() const;
};

}  // namespace oft::test
