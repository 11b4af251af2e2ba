#pragma once
// The dense weight a training step multiplies by on the CPU, as bitsandbytes' MatMul8bitFp forms it:
// CB.to(dtype).mul_(SCB.unsqueeze(1).mul(1.0 / 127.0)).
#include <ATen/core/Tensor.h>

#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::bnb {

// Writes float(CB[r, k]) * float(SCB[r] * (1/127)), rounded once to out's dtype, into out (CB's sizes, contiguous;
// Float, Half or BFloat16 take eight lanes where the CPU has AVX2 and F16C, one pass; anything else, or
// RoundingPath::kPortable, takes ATen's copy and multiply: the same bits).
void dequantize_int8_for_training_into(const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& out,
                                       sdk::RoundingPath path = sdk::RoundingPath::kFastest);

}  // namespace oft::bnb
