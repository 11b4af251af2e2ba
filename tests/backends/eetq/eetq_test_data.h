#pragma once
// The format-derived EETQ golden cases (tests/golden/gen_eetq.py: a numpy transcription of EETQ's C++
// quantizer and arch-80 preprocessing; no EETQ code runs without CUDA) as the eetq plugin's tests read them.
#include <vector>

#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::eetq::test {

using oft::test::GoldenCase;

std::vector<GoldenCase> golden_cases();
// The case's checkpoint tensors as EetqLinear stores them (weight, weight_scales, and bias if any).
sdk::TensorMap checkpoint_tensors(const GoldenCase& c);

using oft::test::throws_naming;

}  // namespace oft::eetq::test
