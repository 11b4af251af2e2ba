#pragma once
// LLaMA's RMSNorm as transformers computes it (x in float32 divided by its root mean square, cast back to x's
// dtype, then scaled by the weight) with a backward that keeps only x and one float per row. Differentiating
// the operators one by one keeps x's float32 copy for the backward instead: twice x's bytes in bf16, for every
// norm of every layer (64 MiB per norm at 8 x 1024 tokens of 2048 features).
#include <ATen/core/Tensor.h>

#include "oft/export.h"

namespace oft::models {

// weight * (x.float() * rsqrt(mean(x.float()^2, -1) + eps)).to(x.dtype), differentiable in x and weight. On the
// CPU the forward values are those of the operators above and the gradients equal theirs up to float32 rounding;
// on CUDA LibTorch's fused RMSNorm kernels normalize (one pass each way), within one rounding of those values.
OFT_CORE_API at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace oft::models
