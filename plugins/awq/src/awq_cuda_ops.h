#pragma once
// The awq plugin's CUDA operations. They live in a companion library, liboft_awq_cuda.so next to the plugin (cuda/),
// which links LibTorch's CUDA side and the CUDA runtime; the plugin loads it the first time a CUDA tensor reaches
// it, so start-up and CPU-only use never load CUDA.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace oft::awq {

struct CudaOps {
  // Bumped when a signature or what a function promises below changes: the plugin refuses a companion of another
  // version.
  static constexpr int kVersion = 1;
  int version;
  // The layer's checkpoint tensors (awq_linear.h) dequantized in one kernel: each value (code - zero) * scale in
  // fp32, rounded once to `dtype` (float32, float16 or bfloat16), so equal bit for bit to the CPU path
  // (awq_dequant_cpu.h) for round_to = dtype. scales are converted to `dtype` (nothing to do when they have it, as in
  // AwqLinear). in_features must be a multiple of group_size. All on one CUDA device; no device-to-host
  // synchronization; a tensor of the wrong dtype, device or shape is a std::invalid_argument naming it and the shape
  // expected.
  // gemm layout: qweight int32 (in, gemm_words(out, bits)), qzeros int32 (in / group_size, gemm_words(out, bits)),
  // scales (in / group_size, out); bits 2, 3, 4 or 8 -> W^T (in, out).
  at::Tensor (*dequantize_gemm)(const at::Tensor& qweight, const at::Tensor& qzeros, const at::Tensor& scales, int bits,
                                int64_t group_size, int64_t in_features, int64_t out_features, c10::ScalarType dtype);
  // gemv layout (4 bits): qweight int32 (out, in / 8), qzeros int32 (out, width) with width >= ceil(in / group_size
  // / 8) (gemv_zeros_width pads it), scales (out, 8 * width) -> W (out, in).
  at::Tensor (*dequantize_gemv)(const at::Tensor& qweight, const at::Tensor& qzeros, const at::Tensor& scales,
                                int64_t group_size, int64_t in_features, int64_t out_features, c10::ScalarType dtype);
};

// Whether this plugin was built with its companion (nvcc was present). When not, AwqLinear dequantizes CUDA tensors
// with LibTorch operators (awq_dequant_operators.h) instead, the same values.
bool cuda_ops_built();

// The companion's operations, loaded once. Throws std::runtime_error when this plugin was built without CUDA or the
// companion cannot be loaded (naming the file and the loader's reason).
const CudaOps& cuda_ops();

}  // namespace oft::awq

// The companion's one exported symbol.
extern "C" const oft::awq::CudaOps* oft_awq_cuda_ops();
