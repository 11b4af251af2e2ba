#pragma once
// What liboft_cuda's LibTorch-side wrappers share: the kernels' element types, the current stream, launch errors,
// and whether the device can run the kernels at all.
#include <array>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContextLight.h>
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

// Per device index: 0 not asked yet, 1 yes, -1 no.
using DeviceAnswers = std::array<std::atomic<signed char>, 64>;

// `question` (a query of the current device) asked once per device.
template <class Question>
bool asked_once(DeviceAnswers& known, const at::Device& device, Question question) {
  const int index = device.index();
  if (index < 0 || index >= static_cast<int>(known.size())) return false;
  if (known[index].load(std::memory_order_relaxed) == 0) {
    const c10::cuda::CUDAGuard guard(device);
    known[index].store(question() ? 1 : -1, std::memory_order_relaxed);
  }
  return known[index].load(std::memory_order_relaxed) > 0;
}

// Whether the kernels were built for the device's architecture.
inline bool kernels_run_on(const at::Device& device) {
  static DeviceAnswers known{};
  return asked_once(known, device, kernels_run_on_current_device);
}

// Whether the activation rotations may take the tensor cores there: sm_80 or later, unless OFT_CUDA_TENSOR_CORES=0
// asks for the CUDA-core kernels (to compare the two; they differ only in the order of fp32 sums).
inline bool tensor_cores_run_on(const at::Device& device) {
  static const bool allowed = [] {
    const char* value = std::getenv("OFT_CUDA_TENSOR_CORES");
    return value == nullptr || std::string_view(value) != "0";
  }();
  static DeviceAnswers known{};
  return allowed && asked_once(known, device, tensor_cores_run_on_current_device);
}

// The rotation launches' view of a CUDA device (LibTorch caches its properties).
inline LaunchDevice launch_device(const at::Device& device) {
  return {tensor_cores_run_on(device), at::cuda::getDeviceProperties(device.index())->multiProcessorCount};
}

}  // namespace oft::cuda
