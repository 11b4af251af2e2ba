#pragma once
// Device kernels for the model architectures' elementwise steps, registered per device type by a device library:
// liboft_cuda registers CUDA's when prepare_device loads it. Each replaces several LibTorch operators (several
// passes over the activations) by one pass and computes what those operators compute, rounding where they round.
// Without them (the CPU), or for tensors they do not take, the models take the operators one by one.
#include <tuple>

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include "oft/export.h"

namespace oft {

struct ModelKernels {
  // Whether silu_mul and silu_mul_backward take gate and up (their dtype, shapes, this GPU's architecture).
  bool (*silu_mul_takes)(const at::Tensor& gate, const at::Tensor& up) = nullptr;
  // silu(gate) * up for gate and up of one shape and dtype (fp32, fp16 or bf16), rounded as the two operators
  // round: silu's result to the dtype, then the product (models::gated_activation).
  at::Tensor (*silu_mul)(const at::Tensor& gate, const at::Tensor& up) = nullptr;
  // (d gate, d up) for the output gradient dy: silu_backward(dy * up, gate) and dy * silu(gate), each product
  // rounded to the dtype as the operators round it; a gradient that is not wanted comes back undefined.
  std::tuple<at::Tensor, at::Tensor> (*silu_mul_backward)(const at::Tensor& dy, const at::Tensor& gate,
                                                          const at::Tensor& up, bool want_gate, bool want_up) = nullptr;
  // Whether rotary and rotary_backward take x (or its gradient), cos and sin.
  bool (*rotary_takes)(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) = nullptr;
  // Rotary position embedding of x (batch, seq, heads, dim) with cos, sin (seq, dim) of x's dtype:
  // x * cos + rotate_half(x) * sin, each product and the sum rounded to the dtype (models::rotary_embedding).
  at::Tensor (*rotary)(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) = nullptr;
  // Its gradient in x for the output gradient dy (the rotation by -angle, rounded as autograd's steps round).
  at::Tensor (*rotary_backward)(const at::Tensor& dy, const at::Tensor& cos, const at::Tensor& sin) = nullptr;
};

// Replaces the kernels of `device` (registration happens before the device is used; lookups are lock-free).
OFT_CORE_API void register_model_kernels(c10::DeviceType device, const ModelKernels& kernels);
// The kernels registered for `device`, or nullptr.
OFT_CORE_API const ModelKernels* model_kernels(c10::DeviceType device);

}  // namespace oft
