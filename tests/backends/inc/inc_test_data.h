#pragma once
// The INC golden cases (tests/golden/gen_inc.py: neural-compressor-pt 3.10 on CPU, QDQ mode) as the inc
// plugin's tests read them.
#include <string>
#include <vector>

#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::inc::test {

// A case's quantization_config is what INC wrote into config.json; its state() the layer's tensors as INC saved
// them (weight, bias, dequant_weights.scale, quant_input.*).
using oft::test::GoldenCase;

const oft::test::GoldenFile& golden();
std::vector<GoldenCase> golden_cases();
GoldenCase golden_case(const std::string& name);
// model.layers.0.mlp.up_proj: in 32, out 64, bias.
sdk::LinearShape golden_shape();
// The options `oft quantize --method inc-fp8` takes for the case's INC settings.
std::string quantize_options(const GoldenCase& c);
// Bitwise equality, also for FP8 tensors (compared as bytes).
bool same_bits(const at::Tensor& a, const at::Tensor& b);

}  // namespace oft::inc::test
