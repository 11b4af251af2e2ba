#pragma once
// The gptq plugin's CUDA operations. They live in a companion library, liboft_gptq_cuda.so next to the plugin
// (cuda/), which links LibTorch's CUDA side and the CUDA runtime; the plugin loads it the first time a CUDA
// tensor reaches it, so start-up and CPU-only use never load CUDA.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace oft::gptq {

struct CudaOps {
  // Bumped when a signature or what a function promises below changes: the plugin refuses a companion of another
  // version.
  static constexpr int kVersion = 2;
  int version;
  // W^T (in, out) = (code - zeros[g_idx[k]]) * scales[g_idx[k]] in fp32, rounded once to `dtype`: the values
  // of dequantize_cpu (gptq_dequant_cpu.h) for round_to = dtype. qweight int32 (in*bits/32, out); zeros,
  // scales (groups, out), converted to float32; g_idx int32 (in). A g_idx value outside [0, groups) is not
  // reported but clamped (no call reads outside zeros/scales): the caller checks g_idx. All on one CUDA
  // device; no device-to-host synchronization.
  at::Tensor (*dequantize_kn)(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                              const at::Tensor& g_idx, int bits, c10::ScalarType dtype);
};

// The companion's operations, loaded once. Throws std::runtime_error when this plugin was built without CUDA
// or the companion cannot be loaded (naming the file and the loader's reason).
const CudaOps& cuda_ops();

}  // namespace oft::gptq

// The companion's one exported symbol.
extern "C" const oft::gptq::CudaOps* oft_gptq_cuda_ops();
