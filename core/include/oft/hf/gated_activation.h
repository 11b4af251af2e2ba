#pragma once
// The gated MLP product act(gate) * up (LLaMA's SwiGLU with act = silu) with a backward that keeps only gate
// and up. Differentiating the two operators one by one also keeps act(gate), a third tensor of the MLP's
// intermediate size per layer (88 MiB per layer at 8 x 1024 tokens of 5632 features in bf16).
#include <string>

#include <ATen/core/Tensor.h>

#include "oft/export.h"

namespace oft::models {

// activation(name, gate) * up (names as models::activation: gelu, gelu_new / gelu_pytorch_tanh, relu,
// silu / swish), differentiable in gate and up. Values and gradients are those of the two operators: the
// backward recomputes act(gate) and calls the activation's own backward operator. silu on a device with
// registered kernels (oft/device/model_kernels.h: liboft_cuda's) takes them, one pass each way.
OFT_CORE_API at::Tensor gated_activation(const std::string& name, const at::Tensor& gate, const at::Tensor& up);

}  // namespace oft::models
