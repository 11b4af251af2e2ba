#pragma once
// The hqq golden cases (tests/golden/gen_hqq.py: hqq 0.2.8.post1 and PEFT 0.21.2 on CPU) as the hqq
// plugin's tests read them.
#include <string>
#include <vector>

#include "hqq_config.h"
#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::hqq::test {

// The shared golden case, with its quantization_config read as the plugin reads it. Its state() is
// HQQLinear.state_dict(), named as the checkpoint names them relative to the module.
struct GoldenCase : oft::test::GoldenCase {
  HqqSettings settings;  // from HqqConfig.to_dict()
  at::ScalarType compute_dtype = at::kFloat;
};

const oft::test::GoldenFile& golden();
// The layer cases (quantized by HQQLinear) and the OFT cases (PEFT around HQQLinear).
std::vector<GoldenCase> layer_cases();
std::vector<GoldenCase> oft_cases();
// The float layer every case quantizes: (16, 64) weight and bias.
at::Tensor golden_weight();
at::Tensor golden_bias();
sdk::LinearShape golden_shape();

}  // namespace oft::hqq::test
