#pragma once
// Device kernels for the OFT rotation, registered per device type by a device library: liboft_cuda
// registers CUDA's when prepare_device loads it. OFTRotation uses them for weights and inputs on that
// device; without them it uses rotation_math's LibTorch operators (on the CPU, cpu_cayley_neumann.h's node for the
// series and cpu_rotation.h's kernels for the input rotation where they fit).
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include "oft/export.h"

namespace oft {

struct RotationKernels {
  // (blocks, b(b-1)/2) skew vectors -> (blocks, b, b) rotations by PEFT's Cayley-Neumann series with
  // num_terms terms, in vec's dtype; differentiable.
  at::Tensor (*cayley_neumann)(const at::Tensor& vec, int64_t block_size, int64_t num_terms) = nullptr;
  // The same for the exact Cayley transform (I - Q)(I + Q)^-1.
  at::Tensor (*cayley_exact)(const at::Tensor& vec, int64_t block_size) = nullptr;
  // x (..., d) . blockdiag(blocks), blocks (d / b or 1 shared, b, b): computed in fp32, returned in x's
  // dtype; differentiable in x and blocks.
  at::Tensor (*rotate_rows)(const at::Tensor& x, const at::Tensor& blocks) = nullptr;
};

// Replaces the kernels of `device` (registration happens before the device is used; lookups are lock-free).
OFT_CORE_API void register_rotation_kernels(c10::DeviceType device, const RotationKernels& kernels);
// The kernels registered for `device`, or nullptr.
OFT_CORE_API const RotationKernels* rotation_kernels(c10::DeviceType device);

}  // namespace oft
