// The built aqlm plugin against the backend conformance suite: its "aqlm" method (2x8, ig 8) and a 1x8
// layout with output groups of 2; merging refused per layer, not for the model as a whole (as PEFT does).
#include <filesystem>
#include <string>

#include "oft/testing/backend_conformance.h"

namespace oft::aqlm::test {
namespace {

using namespace oft::testing;

struct Aqlm2x8 : ConformanceCase {
  static std::filesystem::path plugin_file() { return OFT_AQLM_PLUGIN_FILE; }
  static constexpr const char* plugin = "aqlm";
  static constexpr const char* method = "aqlm";
  static constexpr sdk::MergeMode merge_mode = sdk::MergeMode::Refused;
  // 256 vectors of 8 weights against 2 x 256 codewords: nearly exact on this small layer.
  static constexpr double weight_tolerance = 0.05;
};

struct Aqlm1x8OutGroups : Aqlm2x8 {
  static std::string options_json() {
    return R"({"num_codebooks": 1, "nbits_per_codebook": 8, "in_group_size": 4, "out_group_size": 2})";
  }
  static constexpr double weight_tolerance = 0.1;
};

using AqlmCases = ::testing::Types<Aqlm2x8, Aqlm1x8OutGroups>;
INSTANTIATE_TYPED_TEST_SUITE_P(Aqlm, BackendConformance, AqlmCases, ConformanceCaseNames);

}  // namespace
}  // namespace oft::aqlm::test
