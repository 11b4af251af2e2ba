#pragma once
// The rotary position embedding as transformers' LLaMA applies it to queries and keys: x * cos + rotate_half(x) *
// sin, rotate_half(x) = cat(-x[..., dim/2:], x[..., :dim/2]), with cos and sin in x's dtype. On a device with
// registered kernels (oft/device/model_kernels.h: liboft_cuda's) one pass each way, with the operators' roundings;
// elsewhere the operators one by one.
#include <ATen/core/Tensor.h>

#include "oft/export.h"

namespace oft::models {

// x (batch, seq, heads, dim) with dim even; cos, sin (seq, dim) of x's dtype on x's device, not trained.
// Differentiable in x.
OFT_CORE_API at::Tensor rotary_embedding(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace oft::models
