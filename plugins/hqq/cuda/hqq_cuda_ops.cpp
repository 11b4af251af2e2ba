// liboft_hqq_cuda.so's entry point: checks the tensors, allocates the result and launches hqq_kernels.cu on the
// current stream of the tensors' device.
#include <cstdint>
#include <stdexcept>
#include <string>

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "hqq_cuda_ops.h"
#include "hqq_dequant_math.h"
#include "hqq_kernels.h"

namespace oft::hqq {
namespace {

constexpr const char* kWhat = "hqq dequantization (CUDA)";

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(std::string(kWhat) + ": " + what); }

cuda::Dtype kernel_dtype(c10::ScalarType dtype, const char* step) {
  switch (dtype) {
    case at::kFloat: return cuda::Dtype::Float32;
    case at::kHalf: return cuda::Dtype::Float16;
    case at::kBFloat16: return cuda::Dtype::BFloat16;
    default: fail(std::string(step) + " dtype must be float32, float16 or bfloat16, got " + c10::toString(dtype));
  }
}

std::string shape_text(at::IntArrayRef sizes) {
  std::string text = "(";
  for (size_t d = 0; d < sizes.size(); ++d) text += (d ? ", " : "") + std::to_string(sizes[d]);
  return text + ")";
}

std::string tensor(const char* name) { return "tensor \"" + std::string(name) + "\""; }

void expect_on(const at::Tensor& t, const char* name, const c10::Device& device) {
  if (!t.defined()) fail(tensor(name) + " is missing");
  if (t.device() != device) fail(tensor(name) + " is on " + t.device().str() + ", \"packed\" on " + device.str());
}

// The strides of zero's and scale's value for code (r, c) from zero's shape: (rows, 1) one per code row (axis 1),
// (1, cols) one per code column (axis 0), () one for all (channel_wise false). scale must have zero's shape.
struct StatStrides {
  int64_t row, col;
};
StatStrides stat_strides(const at::Tensor& zero, const at::Tensor& scale, int64_t rows, int64_t cols) {
  StatStrides strides{0, 0};
  if (zero.dim() == 2 && zero.size(0) == rows && zero.size(1) == 1)
    strides = {1, 0};
  else if (zero.dim() == 2 && zero.size(0) == 1 && zero.size(1) == cols)
    strides = {0, 1};
  else if (zero.dim() != 0)
    fail(tensor("zero") + " has shape " + shape_text(zero.sizes()) + ", expected " + shape_text({rows, 1}) +
         " (one per code row), " + shape_text({1, cols}) + " (one per code column) or () (one for all)");
  if (scale.sizes() != zero.sizes())
    fail(tensor("scale") + " has shape " + shape_text(scale.sizes()) + ", expected zero's " + shape_text(zero.sizes()));
  return strides;
}

void check_launch(cudaError_t status) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(kWhat) + ": CUDA kernel launch failed: " + cudaGetErrorString(status));
}

at::Tensor dequantize(const at::Tensor& packed, const at::Tensor& zero, const at::Tensor& scale, int bits, int64_t rows,
                      int64_t cols, c10::ScalarType difference, c10::ScalarType product) {
  if (bits != 1 && bits != 2 && bits != 3 && bits != 4 && bits != 8)
    fail("bits must be 1, 2, 3, 4 or 8, got " + std::to_string(bits));
  if (rows < 0 || cols < 0)
    fail("rows and cols must not be negative, got " + std::to_string(rows) + " and " + std::to_string(cols));
  const int64_t planes = math::planes_for_bits(bits);
  if (bits != 3 && rows % planes != 0)
    fail(std::to_string(rows) + " code rows do not split into the " + std::to_string(planes) + " planes of " +
         std::to_string(bits) + "-bit codes");
  const cuda::Dtype difference_element = kernel_dtype(difference, "the difference");
  const cuda::Dtype product_element = kernel_dtype(product, "the product");
  if (!packed.defined() || !packed.is_cuda())
    fail(tensor("packed") + " must be on a CUDA device, got " +
         (packed.defined() ? packed.device().str() : std::string("none")));
  const c10::Device device = packed.device();
  const at::ScalarType packed_dtype = bits == 3 ? at::kInt : at::kByte;
  if (packed.scalar_type() != packed_dtype)
    fail(tensor("packed") + " has dtype " + c10::toString(packed.scalar_type()) + ", expected " +
         c10::toString(packed_dtype) + " for " + std::to_string(bits) + "-bit codes");
  const int64_t packed_rows = math::packed_rows(rows, planes);
  if (packed.dim() != 2 || packed.size(0) != packed_rows || packed.size(1) != cols)
    fail(tensor("packed") + " has shape " + shape_text(packed.sizes()) + ", expected " +
         shape_text({packed_rows, cols}));
  expect_on(zero, "zero", device);
  expect_on(scale, "scale", device);
  const StatStrides strides = stat_strides(zero, scale, rows, cols);
  const c10::cuda::CUDAGuard guard(device);
  // As the operators path: zero in the difference dtype and scale in the product dtype, exact conversions where these
  // are their promotions (nothing to do when they have them, as in HqqLinear's usual case).
  const at::Tensor codes = packed.contiguous(), z = zero.to(difference).contiguous(),
                   s = scale.to(product).contiguous();
  at::Tensor out = at::empty({rows, cols}, codes.options().dtype(product));
  check_launch(cuda::dequantize(codes.const_data_ptr(), z.const_data_ptr(), s.const_data_ptr(), strides.row,
                                strides.col, bits, rows, cols, difference_element, product_element, out.data_ptr(),
                                c10::cuda::getCurrentCUDAStream(device.index()).stream()));
  return out;
}

}  // namespace
}  // namespace oft::hqq

extern "C" __attribute__((visibility("default"))) const oft::hqq::CudaOps* oft_hqq_cuda_ops() {
  static const oft::hqq::CudaOps ops{oft::hqq::CudaOps::kVersion, &oft::hqq::dequantize};
  return &ops;
}
