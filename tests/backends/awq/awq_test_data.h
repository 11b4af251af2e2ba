#pragma once
// The GPTQModel golden data (tests/golden/gen_awq.py) as the awq plugin's tests read them.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "awq_config.h"
#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::awq::test {

struct GoldenCase {
  std::string name;
  nlohmann::json meta;
  AwqConfig config;                 // from transformers' AwqConfig.to_dict()
  std::string quantization_config;  // as JSON text
  sdk::LinearShape shape;
  at::Tensor get(const std::string& field) const;
  const oft::test::GoldenFile* file = nullptr;
};

const oft::test::GoldenFile& golden_layers();  // awq/awq_layers.safetensors
const oft::test::GoldenFile& golden_clip();    // awq/awq_clip.safetensors
const oft::test::GoldenFile& golden_oft();     // awq/awq_oft.safetensors
std::vector<GoldenCase> golden_cases();
// The case's checkpoint tensors (qweight, qzeros, scales, bias), copies of the golden ones.
sdk::TensorMap checkpoint_tensors(const GoldenCase& c);

// ||X (W - Wq)^T||_F / ||X W^T||_F: the layer's output error on inputs X.
double output_error(const at::Tensor& weight, const at::Tensor& quantized, const at::Tensor& x);

}  // namespace oft::awq::test
