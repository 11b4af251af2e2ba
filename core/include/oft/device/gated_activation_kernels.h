#pragma once
// Device kernels for the gated MLP product silu(gate) * up (models::gated_activation), registered per device type
// by a device library: liboft_cuda registers CUDA's when prepare_device loads it. Without them the product and
// its backward take LibTorch's operators one by one.
#include <tuple>

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include "oft/export.h"

namespace oft {

struct GatedActivationKernels {
  // silu(gate) * up for gate and up of one shape and dtype (fp32, fp16 or bf16), rounded as the two operators
  // round: silu's result to the dtype, then the product.
  at::Tensor (*silu_mul)(const at::Tensor& gate, const at::Tensor& up) = nullptr;
  // (d gate, d up) for the output gradient dy: silu_backward(dy * up, gate) and dy * silu(gate), each product
  // rounded to the dtype as the operators round it; a gradient that is not wanted comes back undefined.
  std::tuple<at::Tensor, at::Tensor> (*silu_mul_backward)(const at::Tensor& dy, const at::Tensor& gate,
                                                          const at::Tensor& up, bool want_gate, bool want_up) = nullptr;
};

// Replaces the kernels of `device` (registration happens before the device is used; lookups are lock-free).
OFT_CORE_API void register_gated_activation_kernels(c10::DeviceType device, const GatedActivationKernels& kernels);
// The kernels registered for `device`, or nullptr.
OFT_CORE_API const GatedActivationKernels* gated_activation_kernels(c10::DeviceType device);

}  // namespace oft
