// liboft_cuda's one exported symbol, called by oft::prepare_device after loading the library: checks
// the CUDA device and registers oft's CUDA kernels with liboft_core. Loading this library also loads
// LibTorch's CUDA backend (libtorch_cuda registers its operators and CUDA hooks as it loads).
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <cuda_runtime_api.h>

#include "cuda_model_kernels.h"
#include "cuda_rotation.h"
#include "oft/device/model_kernels.h"
#include "oft/device/rotation_kernels.h"

namespace {

void write_message(const std::string& text, char* message, size_t size) {
  if (size > 0) std::snprintf(message, size, "%s", text.c_str());
}

std::string visible_devices() {
  const char* value = std::getenv("CUDA_VISIBLE_DEVICES");
  return value ? std::string("CUDA_VISIBLE_DEVICES=") + value : "CUDA_VISIBLE_DEVICES unset";
}

}  // namespace

// 0: device `index` is usable (and the kernels are registered); otherwise `message` says why not.
extern "C" __attribute__((visibility("default"))) int oft_cuda_prepare(int index, char* message, size_t size);

int oft_cuda_prepare(int index, char* message, size_t size) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    const std::string why = err != cudaSuccess ? cudaGetErrorString(err) : "no devices";
    write_message("no CUDA device is visible (" + visible_devices() + "; CUDA runtime: " + why + ")", message, size);
    return 1;
  }
  if (index >= count) {
    write_message("cuda:" + std::to_string(index) + " asked for, but " + std::to_string(count) +
                      (count == 1 ? " device is visible (" : " devices are visible (") + visible_devices() + ")",
                  message, size);
    return 1;
  }
  static const bool registered = [] {
    oft::RotationKernels kernels;
    kernels.cayley_neumann = &oft::cuda::cayley_neumann;
    kernels.cayley_exact = &oft::cuda::cayley_exact;
    kernels.rotate_rows = &oft::cuda::rotate_rows;
    oft::register_rotation_kernels(c10::DeviceType::CUDA, kernels);
    oft::ModelKernels model;
    model.silu_mul_takes = &oft::cuda::silu_mul_takes;
    model.silu_mul = &oft::cuda::silu_mul;
    model.silu_mul_backward = &oft::cuda::silu_mul_backward;
    model.rotary_takes = &oft::cuda::rotary_takes;
    model.rotary = &oft::cuda::rotary;
    model.rotary_backward = &oft::cuda::rotary_backward;
    oft::register_model_kernels(c10::DeviceType::CUDA, model);
    return true;
  }();
  return registered ? 0 : 1;
}
