#pragma once
// The GPTQModel golden cases (tests/golden/gen_gptq.py) as the gptq plugin's tests read them.
#include <vector>

#include "gptq_config.h"
#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::gptq::test {

// The shared golden case, with its quantization_config read as the plugin reads it.
struct GoldenCase : oft::test::GoldenCase {
  GptqConfig config;  // from GPTQModel's quantization_config
};

const oft::test::GoldenFile& golden();
std::vector<GoldenCase> golden_cases();
// The case's checkpoint tensors (qweight, qzeros, scales, g_idx, bias).
sdk::TensorMap checkpoint_tensors(const GoldenCase& c);
sdk::LinearShape golden_shape();

// ||X (W - Wq)^T||_F / ||X W^T||_F: the layer's output error on inputs X.
double output_error(const at::Tensor& weight, const at::Tensor& quantized, const at::Tensor& x);

}  // namespace oft::gptq::test
