#pragma once
// Helpers of the model tests: the golden checkpoints written by tests/golden/gen_models.py.
#include <filesystem>
#include <string>

#include <unistd.h>

#include <ATen/ATen.h>

#include "oft/hf/pretrained.h"
#include "test_support.h"

namespace oft::test {

inline std::filesystem::path hf_dir(const std::string& name) {
  return std::filesystem::path(OFT_GOLDEN_DIR) / "models" / "hf" / name;
}

inline GoldenFile hf_expected(const std::string& name) {
  return load_golden("models/hf/" + name + ".expected.safetensors");
}

// Outputs at the positions whose attention_mask is 1, (N, features). Causal models leave the others
// implementation-defined (left padding: nothing to attend), so parity is checked on these.
inline at::Tensor valid_positions(const at::Tensor& output, const at::Tensor& mask) {
  return output.index({mask.to(at::kBool)});
}

class TempDir {
 public:
  TempDir()
      : path(std::filesystem::temp_directory_path() /
             ("oft_models_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path path;

 private:
  static inline int counter = 0;
};

}  // namespace oft::test
