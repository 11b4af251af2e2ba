// The built bitsandbytes plugin against the backend conformance suite: each of its quantize methods,
// with the options PEFT users set most (LLM.int8 without outliers, nested NF4, FP4 in blocks of 128).
#include <filesystem>
#include <string>

#include "oft/testing/backend_conformance.h"

namespace oft::bnb {
namespace {

using namespace oft::testing;

struct BnbCase : ConformanceCase {
  static std::filesystem::path plugin_file() {
    return std::filesystem::path(OFT_BNB_PLUGIN_DIR) / "liboft_backend_bnb.so";
  }
  static constexpr const char* plugin = "bnb";
  static constexpr sdk::MergeMode merge_mode = sdk::MergeMode::Requantize;
};

struct BnbInt8 : BnbCase {
  static constexpr const char* method = "bnb-int8";
  static std::string options_json() { return R"({"llm_int8_threshold": 0.0})"; }
  static constexpr double weight_tolerance = 5e-3;     // half an int8 step of a row's absmax: 0.5 / 127 at most
  static constexpr double forward_tolerance = 1.5e-2;  // eval mode quantizes the activations to int8 too (0.0075)
};

struct BnbNf4Nested : BnbCase {
  static constexpr const char* method = "bnb-nf4";
  static std::string options_json() { return R"({"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true})"; }
  static constexpr double weight_tolerance = 0.15;  // half the widest gap of NF4 codes (0.72 .. 1): 0.139 at most
};

struct BnbFp4Blocks128 : BnbCase {
  static constexpr const char* method = "bnb-fp4";
  static std::string options_json() { return R"({"bnb_4bit_quant_type": "fp4", "bnb_4bit_blocksize": 128})"; }
  static constexpr double weight_tolerance = 0.18;  // half the widest gap of FP4 codes (0.67 .. 1): 0.167 at most
};

using BnbCases = ::testing::Types<BnbInt8, BnbNf4Nested, BnbFp4Blocks128>;
INSTANTIATE_TYPED_TEST_SUITE_P(Bnb, BackendConformance, BnbCases, ConformanceCaseNames);

}  // namespace
}  // namespace oft::bnb
