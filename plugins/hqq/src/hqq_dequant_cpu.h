#pragma once
// HQQ's dequantization (codes - zero) * scale for weights with one zero point and scale per code row (groups
// along the input, axis 1: hqq's usual setting), in one pass over the packed codes: each step rounded in
// registers to the dtype hqq stores it in, so the values are those of hqq's tensor arithmetic, bit for bit.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::hqq {

// The dtypes hqq's two steps store their results in: codes are in the compute dtype, and each step takes
// LibTorch's type promotion.
struct StepDtypes {
  c10::ScalarType difference, product;
};
StepDtypes step_dtypes(c10::ScalarType compute, const at::Tensor& zero, const at::Tensor& scale);

// Whether dequantize_code_rows handles these dtypes (each step's dtype fp32, fp16 or bf16).
bool code_rows_supported(const StepDtypes& dtypes);

// Code rows [begin, end) of `packed` (the packing's integer dtype, contiguous) into `out`, a contiguous float
// tensor (end - begin, cols). zero and scale hold one value per row of the range (end - begin elements).
// kFastest: on x86 with AVX2 and F16C, byte packings whose steps round to one dtype take eight codes at a time
// with the roundings in registers; the same bits as kPortable.
void dequantize_code_rows(const at::Tensor& packed, const std::string& packing, int64_t begin, int64_t end,
                          const at::Tensor& zero, const at::Tensor& scale, const StepDtypes& dtypes,
                          const at::Tensor& out, sdk::RoundingPath path = sdk::RoundingPath::kFastest);

}  // namespace oft::hqq
