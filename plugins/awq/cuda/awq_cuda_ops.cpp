// liboft_awq_cuda.so's entry point: checks the tensors, allocates the result and launches awq_kernels.cu on the
// current stream of the tensors' device.
#include <cstdint>
#include <stdexcept>
#include <string>

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "awq_cuda_ops.h"
#include "awq_dequant_math.h"
#include "awq_kernels.h"

namespace oft::awq {
namespace {

constexpr const char* kWhat = "awq dequantization (CUDA)";

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(std::string(kWhat) + ": " + what); }

cuda::Dtype kernel_dtype(c10::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return cuda::Dtype::Float32;
    case at::kHalf: return cuda::Dtype::Float16;
    case at::kBFloat16: return cuda::Dtype::BFloat16;
    default: fail("dtype must be float32, float16 or bfloat16, got " + std::string(c10::toString(dtype)));
  }
}

std::string shape_text(int64_t rows, int64_t cols) {
  return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}

// `t` as a contiguous (rows, cols) tensor on `device`: packed words stay int32 (`dtype` kInt, which they must have),
// scales are converted to `dtype`.
at::Tensor matrix(const at::Tensor& t, const char* name, c10::ScalarType dtype, int64_t rows, int64_t cols,
                  const c10::Device& device) {
  if (!t.defined()) fail("tensor \"" + std::string(name) + "\" is missing");
  if (t.device() != device)
    fail("tensor \"" + std::string(name) + "\" is on " + t.device().str() + ", \"qweight\" on " + device.str());
  if (dtype == at::kInt && t.scalar_type() != at::kInt)
    fail("tensor \"" + std::string(name) + "\" has dtype " + c10::toString(t.scalar_type()) + ", expected Int");
  if (t.dim() != 2 || t.size(0) != rows || t.size(1) != cols) {
    std::string got = "(";
    for (int64_t d = 0; d < t.dim(); ++d) got += (d ? ", " : "") + std::to_string(t.size(d));
    fail("tensor \"" + std::string(name) + "\" has shape " + got + "), expected " + shape_text(rows, cols));
  }
  return t.to(dtype).contiguous();
}

c10::Device cuda_device_of(const at::Tensor& qweight) {
  if (!qweight.defined() || !qweight.is_cuda())
    fail("tensor \"qweight\" must be on a CUDA device, got " +
         (qweight.defined() ? qweight.device().str() : std::string("none")));
  return qweight.device();
}

void expect_groups(int64_t group_size, int64_t in_features, int64_t out_features) {
  if (in_features < 0 || out_features < 0)
    fail("in_features and out_features must not be negative, got " + std::to_string(in_features) + " and " +
         std::to_string(out_features));
  if (group_size < 1 || in_features % group_size != 0)
    fail("group_size " + std::to_string(group_size) + " must be positive and divide in_features " +
         std::to_string(in_features));
}

const uint32_t* words(const at::Tensor& t) { return reinterpret_cast<const uint32_t*>(t.data_ptr<int32_t>()); }

void check_launch(cudaError_t status) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(kWhat) + ": CUDA kernel launch failed: " + cudaGetErrorString(status));
}

at::Tensor dequantize_gemm(const at::Tensor& qweight, const at::Tensor& qzeros, const at::Tensor& scales, int bits,
                           int64_t group_size, int64_t in_features, int64_t out_features, c10::ScalarType dtype) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    fail("bits must be 2, 3, 4 or 8 for the gemm layout, got " + std::to_string(bits));
  expect_groups(group_size, in_features, out_features);
  const cuda::Dtype element = kernel_dtype(dtype);
  const c10::Device device = cuda_device_of(qweight);
  const c10::cuda::CUDAGuard guard(device);
  const int64_t groups = in_features / group_size, words_per_row = math::gemm_words(out_features, bits);
  const at::Tensor q = matrix(qweight, "qweight", at::kInt, in_features, words_per_row, device);
  const at::Tensor z = matrix(qzeros, "qzeros", at::kInt, groups, words_per_row, device);
  const at::Tensor s = matrix(scales, "scales", dtype, groups, out_features, device);
  at::Tensor out = at::empty({in_features, out_features}, q.options().dtype(dtype));
  check_launch(cuda::dequantize_gemm(words(q), words(z), s.const_data_ptr(), bits, group_size, in_features,
                                     out_features, element, out.data_ptr(),
                                     c10::cuda::getCurrentCUDAStream(device.index()).stream()));
  return out;
}

at::Tensor dequantize_gemv(const at::Tensor& qweight, const at::Tensor& qzeros, const at::Tensor& scales,
                           int64_t group_size, int64_t in_features, int64_t out_features, c10::ScalarType dtype) {
  expect_groups(group_size, in_features, out_features);
  if (in_features % 8 != 0)
    fail("in_features must be a multiple of 8 for the gemv layout, got " + std::to_string(in_features));
  const cuda::Dtype element = kernel_dtype(dtype);
  const c10::Device device = cuda_device_of(qweight);
  const c10::cuda::CUDAGuard guard(device);
  const int64_t groups = in_features / group_size;
  // The zero points' width is the checkpoint's (padded by gemv_zeros_width): any that holds every group.
  const int64_t width = qzeros.defined() && qzeros.dim() == 2 ? qzeros.size(1) : 0;
  if (width < (groups + 7) / 8)
    fail("tensor \"qzeros\" must have shape (" + std::to_string(out_features) +
         ", W) with W >= " + std::to_string((groups + 7) / 8) + " words for " + std::to_string(groups) + " groups");
  const at::Tensor q = matrix(qweight, "qweight", at::kInt, out_features, in_features / 8, device);
  const at::Tensor z = matrix(qzeros, "qzeros", at::kInt, out_features, width, device);
  const at::Tensor s = matrix(scales, "scales", dtype, out_features, 8 * width, device);
  at::Tensor out = at::empty({out_features, in_features}, q.options().dtype(dtype));
  check_launch(cuda::dequantize_gemv(words(q), words(z), s.const_data_ptr(), group_size, width, in_features,
                                     out_features, element, out.data_ptr(),
                                     c10::cuda::getCurrentCUDAStream(device.index()).stream()));
  return out;
}

}  // namespace
}  // namespace oft::awq

extern "C" __attribute__((visibility("default"))) const oft::awq::CudaOps* oft_awq_cuda_ops() {
  static const oft::awq::CudaOps ops{oft::awq::CudaOps::kVersion, &oft::awq::dequantize_gemm,
                                     &oft::awq::dequantize_gemv};
  return &ops;
}
