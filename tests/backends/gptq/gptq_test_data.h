#pragma once
// The GPTQModel golden cases (tests/golden/gen_gptq.py) as the gptq plugin's tests read them.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptq_config.h"
#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::gptq::test {

struct GoldenCase {
  std::string name;
  nlohmann::json meta;
  GptqConfig config;                // from GPTQModel's quantization_config
  std::string quantization_config;  // as JSON text
  at::Tensor get(const std::string& field) const;
  const oft::test::GoldenFile* file = nullptr;
};

const oft::test::GoldenFile& golden();
std::vector<GoldenCase> golden_cases();
// The case's checkpoint tensors (qweight, qzeros, scales, g_idx, bias).
sdk::TensorMap checkpoint_tensors(const GoldenCase& c);
sdk::LinearShape golden_shape();

// ||X (W - Wq)^T||_F / ||X W^T||_F: the layer's output error on inputs X.
double output_error(const at::Tensor& weight, const at::Tensor& quantized, const at::Tensor& x);

}  // namespace oft::gptq::test
