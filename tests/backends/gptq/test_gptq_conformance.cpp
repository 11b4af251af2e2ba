// The built gptq plugin against the backend conformance suite: 4-bit groups fitted to calibration
// inputs, fp16 compute, merging refused per layer and for the whole model (as PEFT does).
#include <filesystem>
#include <string>

#include "oft/testing/backend_conformance.h"

namespace oft::gptq::test {
namespace {

using namespace oft::testing;

struct Gptq4bit : ConformanceCase {
  static std::filesystem::path plugin_file() { return OFT_GPTQ_PLUGIN_FILE; }
  static constexpr const char* plugin = "gptq";
  static constexpr const char* method = "gptq";
  static std::string options_json() { return R"({"bits": 4, "group_size": 32})"; }
  static constexpr sdk::MergeMode merge_mode = sdk::MergeMode::Refused;
  static constexpr bool model_merge_refused = true;
  static constexpr double weight_tolerance = 0.15;   // fitted to outputs on the calibration inputs, not to W (0.075)
  static constexpr double forward_tolerance = 1e-3;  // computes in fp16 (3e-4)
};

INSTANTIATE_TYPED_TEST_SUITE_P(Gptq, BackendConformance, ::testing::Types<Gptq4bit>, ConformanceCaseNames);

}  // namespace
}  // namespace oft::gptq::test
