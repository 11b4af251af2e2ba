// The built hqq plugin against the backend conformance suite: the default method (4-bit, group 64,
// axis 1) and a 3-bit axis-0 variant; merging requantizes, no model-level refusal (PEFT merges HQQ).
#include <filesystem>
#include <string>

#include "oft/testing/backend_conformance.h"

namespace oft::hqq::test {
namespace {

using namespace oft::testing;

struct Hqq4bit : ConformanceCase {
  static std::filesystem::path plugin_file() { return OFT_HQQ_PLUGIN_FILE; }
  static constexpr const char* plugin = "hqq";
  static constexpr const char* method = "hqq";
  static constexpr sdk::MergeMode merge_mode = sdk::MergeMode::Requantize;
  static constexpr double weight_tolerance = 0.1;
};

struct Hqq3bitAxis0 : Hqq4bit {
  static std::string options_json() { return R"({"nbits": 3, "group_size": 32, "axis": 0, "view_as_float": true})"; }
  static constexpr double weight_tolerance = 0.2;
};

using HqqCases = ::testing::Types<Hqq4bit, Hqq3bitAxis0>;
INSTANTIATE_TYPED_TEST_SUITE_P(Hqq, BackendConformance, HqqCases, ConformanceCaseNames);

}  // namespace
}  // namespace oft::hqq::test
