#pragma once
// The aqlm golden cases (tests/golden/gen_aqlm.py: the real aqlm package's storage, dequantization and
// dequantize_gemm on our own seeded codes) as the aqlm plugin's tests read them.
#include <string>
#include <vector>

#include "aqlm_config.h"
#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::aqlm::test {

// The shared golden case, with its quantization_config read as the plugin reads it.
struct GoldenCase : oft::test::GoldenCase {
  AqlmConfig config;  // from the case's quantization_config (AqlmConfig.to_dict())

  // The full codebooks (16-bit cases store only the rows the codes use; the others are 0).
  at::Tensor codebooks() const;
  // The checkpoint tensors: codes, codebooks, scales (and bias).
  sdk::TensorMap checkpoint() const;
};

std::vector<GoldenCase> golden_cases(const std::string& file_name);  // "aqlm_layers" or "aqlm_oft"

// A codebook layout for random layers: `codebooks` x `nbits` codes per group of out_group x in_group weights.
struct CodebookLayout {
  int64_t codebooks, nbits, out_group, in_group;
};
// "2x8 og1 ig8", for test traces.
std::string layout_name(const CodebookLayout& l);
// The layout's AqlmConfig (the other fields at their defaults).
AqlmConfig config_of(const CodebookLayout& l);

}  // namespace oft::aqlm::test
