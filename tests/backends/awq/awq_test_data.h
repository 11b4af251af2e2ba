#pragma once
// The GPTQModel golden data (tests/golden/gen_awq.py) as the awq plugin's tests read them.
#include <vector>

#include "awq_config.h"
#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::awq::test {

// The shared golden case, with its quantization_config read as the plugin reads it.
struct GoldenCase : oft::test::GoldenCase {
  AwqConfig config;  // from transformers' AwqConfig.to_dict()
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
