// liboft_aqlm_cuda.so's entry point: checks the tensors, allocates the result and launches aqlm_kernels.cu on the
// current stream of the tensors' device.
#include <cstdint>
#include <stdexcept>
#include <string>

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "aqlm_cuda_ops.h"
#include "aqlm_kernels.h"

namespace oft::aqlm {
namespace {

constexpr const char* kWhat = "aqlm dequantization (CUDA)";

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(std::string(kWhat) + ": " + what); }

std::string shape_text(at::IntArrayRef sizes) {
  std::string text = "(";
  for (size_t d = 0; d < sizes.size(); ++d) text += (d ? ", " : "") + std::to_string(sizes[d]);
  return text + ")";
}

std::string tensor(const char* name) { return "tensor \"" + std::string(name) + "\""; }

cuda::Dtype kernel_dtype(c10::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return cuda::Dtype::Float32;
    case at::kHalf: return cuda::Dtype::Float16;
    case at::kBFloat16: return cuda::Dtype::BFloat16;
    default:
      fail(tensor("codebooks") + " has dtype " + c10::toString(dtype) + ", expected float16, bfloat16 or float32");
  }
}

void expect_on(const at::Tensor& t, const char* name, const c10::Device& device) {
  if (!t.defined()) fail(tensor(name) + " is missing");
  if (t.device() != device) fail(tensor(name) + " is on " + t.device().str() + ", \"codebooks\" on " + device.str());
}

void check_launch(cudaError_t status) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(kWhat) + ": CUDA kernel launch failed: " + cudaGetErrorString(status));
}

at::Tensor dequantize(const at::Tensor& codes, int64_t nbits, const at::Tensor& codebooks, const at::Tensor& scales) {
  if (nbits < 1 || nbits > 16) fail("nbits_per_codebook must be 1..16, got " + std::to_string(nbits));
  if (!codebooks.defined() || !codebooks.is_cuda())
    fail(tensor("codebooks") + " must be on a CUDA device, got " +
         (codebooks.defined() ? codebooks.device().str() : std::string("none")));
  const c10::Device device = codebooks.device();
  const cuda::Dtype dtype = kernel_dtype(codebooks.scalar_type());
  if (codebooks.dim() != 4 || codebooks.size(1) != int64_t{1} << nbits || codebooks.size(0) < 1 ||
      codebooks.size(2) < 1 || codebooks.size(3) < 1)
    fail(tensor("codebooks") + " has shape " + shape_text(codebooks.sizes()) + ", expected (C, " +
         std::to_string(int64_t{1} << nbits) + ", out_group_size, in_group_size) for " + std::to_string(nbits) +
         "-bit codebooks");
  const int64_t c = codebooks.size(0), og = codebooks.size(2), ig = codebooks.size(3);
  expect_on(codes, "codes", device);
  const at::ScalarType code_dtype = nbits <= 8 ? at::kChar : at::kShort;
  if (codes.scalar_type() != code_dtype)
    fail(tensor("codes") + " has dtype " + c10::toString(codes.scalar_type()) + ", expected " +
         c10::toString(code_dtype) + " for " + std::to_string(nbits) + "-bit codebooks");
  if (codes.dim() != 3 || codes.size(2) != c)
    fail(tensor("codes") + " has shape " + shape_text(codes.sizes()) + ", expected (N / out_group_size, " +
         "K / in_group_size, " + std::to_string(c) + ")");
  const int64_t groups = codes.size(0);
  expect_on(scales, "scales", device);
  if (!at::isFloatingType(scales.scalar_type()) || scales.numel() != groups)
    fail(tensor("scales") + " has shape " + shape_text(scales.sizes()) + " and dtype " +
         c10::toString(scales.scalar_type()) + ", expected " + std::to_string(groups) +
         " floating-point values (one per output group)");
  const c10::cuda::CUDAGuard guard(device);
  // As the operators path: the scales in float32 (exact for fp16/bf16/fp32; nothing to do for fp32 scales).
  const at::Tensor q = codes.contiguous(), books = codebooks.contiguous(), s = scales.to(at::kFloat).contiguous();
  const int64_t out_features = groups * og, in_features = codes.size(1) * ig;
  at::Tensor out = at::empty({out_features, in_features}, books.options());
  check_launch(cuda::dequantize(q.const_data_ptr(), code_dtype == at::kShort, books.const_data_ptr(),
                                s.const_data_ptr<float>(), static_cast<int>(c), static_cast<int>(nbits), og, ig,
                                out_features, in_features, dtype, out.data_ptr(),
                                c10::cuda::getCurrentCUDAStream(device.index()).stream()));
  return out;
}

}  // namespace
}  // namespace oft::aqlm

extern "C" __attribute__((visibility("default"))) const oft::aqlm::CudaOps* oft_aqlm_cuda_ops() {
  static const oft::aqlm::CudaOps ops{oft::aqlm::CudaOps::kVersion, &oft::aqlm::dequantize};
  return &ops;
}
