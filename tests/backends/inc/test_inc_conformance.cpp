// The built inc plugin against the backend conformance suite: E4M3 and E5M2, per-tensor and per-channel
// weight scales, bf16 compute with FP8-quantized inputs, merging by requantization.
#include <filesystem>
#include <string>

#include "oft/testing/backend_conformance.h"

namespace oft::inc::test {
namespace {

using namespace oft::testing;

struct IncCase : ConformanceCase {
  static std::filesystem::path plugin_file() { return OFT_INC_PLUGIN_FILE; }
  static constexpr const char* plugin = "inc";
  static constexpr const char* method = "inc-fp8";
  static constexpr sdk::MergeMode merge_mode = sdk::MergeMode::Requantize;
};

struct IncE4m3 : IncCase {
  static constexpr double weight_tolerance = 0.05;   // E4M3: 3 mantissa bits, backoff 0.5 (measured 0.036)
  static constexpr double forward_tolerance = 0.08;  // the input is quantized to E4M3 too (0.025)
};

struct IncE5m2PerChannel : IncCase {
  static std::string options_json() {
    return R"({"fp8_config": "E5M2", "scale_method": "act_maxabs_pow2_weights_pcs_maxabs_pow2"})";
  }
  static constexpr double weight_tolerance = 0.1;    // E5M2: 2 mantissa bits (measured 0.071)
  static constexpr double forward_tolerance = 0.15;  // (0.056)
};

using IncCases = ::testing::Types<IncE4m3, IncE5m2PerChannel>;  // a macro argument cannot hold the comma
INSTANTIATE_TYPED_TEST_SUITE_P(Inc, BackendConformance, IncCases, ConformanceCaseNames);

}  // namespace
}  // namespace oft::inc::test
