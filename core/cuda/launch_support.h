#pragma once
// What liboft_cuda's LibTorch-side wrappers share: the kernels' element types, the current stream, launch errors,
// and whether the device can run the kernels at all.
#include <array>
#include <atomic>
#include <stdexcept>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "rotation_launch.h"

namespace oft::cuda {

inline void check_launch(cudaError_t err, const char* kernel) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("liboft_cuda: ") + kernel + " failed: " + cudaGetErrorString(err));
}

inline bool kernel_dtype(at::ScalarType type) {
  return type == at::kFloat || type == at::kHalf || type == at::kBFloat16;
}

inline ElementType element_type(at::ScalarType type) {
  if (type == at::kHalf) return ElementType::kFloat16;
  if (type == at::kBFloat16) return ElementType::kBFloat16;
  return ElementType::kFloat32;
}

inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

// Asked once per device: whether the kernels were built for its architecture.
inline bool kernels_run_on(const at::Device& device) {
  static std::array<std::atomic<signed char>, 64> known{};  // per device index: 0 not asked yet, 1 yes, -1 no
  const int index = device.index();
  if (index < 0 || index >= static_cast<int>(known.size())) return false;
  if (known[index].load(std::memory_order_relaxed) == 0) {
    const c10::cuda::CUDAGuard guard(device);
    known[index].store(kernels_run_on_current_device() ? 1 : -1, std::memory_order_relaxed);
  }
  return known[index].load(std::memory_order_relaxed) > 0;
}

}  // namespace oft::cuda
