// The built eetq plugin against the backend conformance suite: per-channel int8 of a float32 weight,
// float32 compute, merging requantizes (no model-level refusal: PEFT has none for EETQ).
#include <filesystem>
#include <string>

#include "oft/testing/backend_conformance.h"

namespace oft::eetq::test {
namespace {

using namespace oft::testing;

struct EetqInt8 : ConformanceCase {
  static std::filesystem::path plugin_file() { return OFT_EETQ_PLUGIN_FILE; }
  static constexpr const char* plugin = "eetq";
  static constexpr const char* method = "eetq";
  static constexpr int64_t in_features = 128;  // EETQ's layout needs multiples of 64
  static constexpr int64_t out_features = 64;
  static constexpr sdk::MergeMode merge_mode = sdk::MergeMode::Requantize;
  static constexpr double weight_tolerance = 1.01 / 128;  // the channel max saturates to 127: one step off
};

INSTANTIATE_TYPED_TEST_SUITE_P(Eetq, BackendConformance, ::testing::Types<EetqInt8>, ConformanceCaseNames);

}  // namespace
}  // namespace oft::eetq::test
