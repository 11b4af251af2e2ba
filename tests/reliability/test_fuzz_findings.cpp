// What the fuzz targets (fuzz/) found, kept as tests: each input must give the reader's own error
// (naming the file), not an exception from a library underneath.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "oft/adapter/config.h"
#include "oft/errors.h"
#include "oft/io/safetensors.h"
#include "oft/plugin/plugin_settings.h"
#include "raw_safetensors.h"

namespace oft::test {
namespace {

namespace fs = std::filesystem;

// nlohmann's parser throws out_of_range (not parse_error) for a number beyond double's range; the
// readers caught only parse_error, so the error escaped unnamed (fuzz_safetensors, first finding).
const std::string kNumberOverflow = R"({"x": 1e99999})";

class FuzzFindings : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/oft-fuzz-findings-XXXXXX";
    dir_ = ::mkdtemp(name);
  }
  void TearDown() override { fs::remove_all(dir_); }

  template <typename Error, typename Read>
  void expect_error_naming(const fs::path& file, Read read) {
    try {
      read(file);
      ADD_FAILURE() << "no error for " << file;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

TEST_F(FuzzFindings, SafetensorsHeaderWithANumberOverflow) {
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(kNumberOverflow.size());
  write_bytes(dir_ / "overflow.safetensors", bytes + kNumberOverflow);
  expect_error_naming<FormatError>(dir_ / "overflow.safetensors", [](const fs::path& f) { safetensors::load(f); });
}

TEST_F(FuzzFindings, AdapterConfigWithANumberOverflow) {
  write_bytes(dir_ / "adapter_config.json", kNumberOverflow);
  expect_error_naming<FormatError>(dir_ / "adapter_config.json", [](const fs::path& f) { OFTConfig::load(f); });
}

TEST_F(FuzzFindings, HostConfigWithANumberOverflow) {
  write_bytes(dir_ / "host.json", kNumberOverflow);
  expect_error_naming<FormatError>(dir_ / "host.json", [](const fs::path& f) { read_host_config(f); });
}

}  // namespace
}  // namespace oft::test
