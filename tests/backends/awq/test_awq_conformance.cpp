// The built awq plugin against the backend conformance suite: gemm 4-bit with zero points, gemm 3-bit
// symmetric and the 4-bit gemv layout, all with the clipping search on calibration inputs, fp16 scales,
// merging by requantization and no model-level refusal.
#include <filesystem>
#include <string>

#include "oft/testing/backend_conformance.h"

namespace oft::awq::test {
namespace {

using namespace oft::testing;

struct AwqCase : ConformanceCase {
  static std::filesystem::path plugin_file() { return OFT_AWQ_PLUGIN_FILE; }
  static constexpr const char* plugin = "awq";
  static constexpr const char* method = "awq";
  static constexpr sdk::MergeMode merge_mode = sdk::MergeMode::Requantize;
  static constexpr double forward_tolerance = 1e-3;  // fp16 input and bias (about 2e-4)
};

struct Awq4bitGemm : AwqCase {
  static std::string options_json() { return R"({"bits": 4, "group_size": 32})"; }
  static constexpr double weight_tolerance = 0.15;  // the clipping search may shorten the largest weights
};

struct Awq3bitSymmetric : AwqCase {
  static std::string options_json() { return R"({"bits": 3, "group_size": 32, "zero_point": false})"; }
  static constexpr double weight_tolerance = 0.4;  // a step of max|w| / 3 per group, and clipping (0.33)
};

struct Awq4bitGemv : AwqCase {
  static std::string options_json() { return R"({"format": "gemv", "group_size": 64})"; }
  static constexpr double weight_tolerance = 0.15;
};

using AwqCases = ::testing::Types<Awq4bitGemm, Awq3bitSymmetric, Awq4bitGemv>;
INSTANTIATE_TYPED_TEST_SUITE_P(Awq, BackendConformance, AwqCases, ConformanceCaseNames);

}  // namespace
}  // namespace oft::awq::test
