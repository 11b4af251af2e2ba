#pragma once
// The hqq golden cases (tests/golden/gen_hqq.py: hqq 0.2.8.post1 and PEFT 0.21.2 on CPU) as the hqq
// plugin's tests read them.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hqq_config.h"
#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::hqq::test {

struct GoldenCase {
  std::string name;
  nlohmann::json meta;
  HqqSettings settings;             // from HqqConfig.to_dict()
  std::string quantization_config;  // as JSON text
  at::ScalarType compute_dtype = at::kFloat;
  at::Tensor get(const std::string& field) const;
  // HQQLinear.state_dict(), named as the checkpoint names them relative to the module.
  sdk::TensorMap state() const;
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
