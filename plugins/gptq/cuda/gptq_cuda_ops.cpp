// liboft_gptq_cuda.so's entry point: checks the tensors, allocates the result and launches gptq_kernels.cu on
// the current stream of the tensors' device.
#include <cstdint>
#include <stdexcept>
#include <string>

#include <ATen/ops/aminmax.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/stack.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "gptq_cuda_ops.h"
#include "gptq_kernels.h"

namespace oft::gptq {
namespace {

constexpr const char* kWhat = "gptq dequantization (CUDA)";

cuda::Dtype kernel_dtype(c10::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return cuda::Dtype::Float32;
    case at::kHalf: return cuda::Dtype::Float16;
    case at::kBFloat16: return cuda::Dtype::BFloat16;
    default:
      throw std::invalid_argument(std::string(kWhat) + ": dtype must be float32, float16 or bfloat16, got " +
                                  c10::toString(dtype));
  }
}

// `t` as a contiguous (rows, cols) array of `dtype` on `device`.
at::Tensor matrix(const at::Tensor& t, c10::ScalarType dtype, int64_t rows, int64_t cols, const c10::Device& device,
                  const char* name) {
  if (!t.defined() || t.device() != device || t.numel() != rows * cols)
    throw std::invalid_argument(std::string(kWhat) + ": tensor \"" + name + "\" must be on " + device.str() + " with " +
                                std::to_string(rows) + " x " + std::to_string(cols) + " elements");
  return t.to(dtype).contiguous();
}

at::Tensor dequantize_kn(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                         const at::Tensor& g_idx, int bits, c10::ScalarType dtype) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    throw std::invalid_argument(std::string(kWhat) + ": bits must be 2, 3, 4 or 8, got " + std::to_string(bits));
  if (qweight.dim() != 2 || qweight.scalar_type() != at::kInt || zeros.dim() != 2 || g_idx.dim() != 1)
    throw std::invalid_argument(std::string(kWhat) + ": expected qweight int32 2-D, zeros 2-D and g_idx 1-D");
  const c10::Device device = qweight.device();
  const c10::cuda::CUDAGuard guard(device);
  const int64_t in = g_idx.size(0), n_out = qweight.size(1), groups = zeros.size(0);
  // 32 inputs fill whole words at every bit width (3 bits: 32 codes in 3 words, some straddling two).
  if (in % 32 != 0)
    throw std::invalid_argument(std::string(kWhat) +
                                ": the number of inputs (g_idx's length) must be a multiple of 32, got " +
                                std::to_string(in));
  if (groups < 1 && in > 0)
    throw std::invalid_argument(std::string(kWhat) + ": tensor \"qzeros\" has no group, expected at least one");
  const at::Tensor words = matrix(qweight, at::kInt, in * bits / 32, n_out, device, "qweight");
  const at::Tensor z = matrix(zeros, at::kFloat, groups, n_out, device, "qzeros");
  const at::Tensor s = matrix(scales, at::kFloat, groups, n_out, device, "scales");
  // No range check of g_idx here (it would read it back to the host at every call): the kernel clamps it.
  const at::Tensor g = matrix(g_idx, at::kInt, 1, in, device, "g_idx");
  at::Tensor out = at::empty({in, n_out}, qweight.options().dtype(dtype));
  const cudaError_t status =
      cuda::dequantize_kn(reinterpret_cast<const uint32_t*>(words.data_ptr<int32_t>()), z.data_ptr<float>(),
                          s.data_ptr<float>(), g.data_ptr<int32_t>(), groups, bits, in, n_out, kernel_dtype(dtype),
                          out.data_ptr(), c10::cuda::getCurrentCUDAStream(device.index()).stream());
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(kWhat) + ": CUDA kernel launch failed: " + cudaGetErrorString(status));
  return out;
}

}  // namespace
}  // namespace oft::gptq

extern "C" __attribute__((visibility("default"))) const oft::gptq::CudaOps* oft_gptq_cuda_ops() {
  static const oft::gptq::CudaOps ops{oft::gptq::CudaOps::kVersion, &oft::gptq::dequantize_kn};
  return &ops;
}
