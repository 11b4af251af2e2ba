// Host launcher of hqq_kernels.cuh: returns early on empty work and launches on the given stream with the kernel's
// LaunchShape.
#include "hqq_kernels.h"

#include "hqq_kernels.cuh"
#include "oft/sdk/cuda/element_type.cuh"

namespace oft::hqq::cuda {
namespace {

template <typename Packed>
cudaError_t launch_packed(const void* packed, const void* zero, const void* scale, int64_t stat_row_stride,
                          int64_t stat_col_stride, int bits, int64_t rows, int64_t cols, Dtype difference,
                          Dtype product, void* out, cudaStream_t stream) {
  const LaunchShape shape = dequantize_shape(rows, cols);
  return sdk::cuda::with_element_type(difference, [&](auto difference_element) {
    return sdk::cuda::with_element_type(product, [&](auto product_element) {
      using D = decltype(difference_element);
      using P = decltype(product_element);
      dequantize_kernel<Packed, D, P><<<shape.blocks, shape.threads, 0, stream>>>(
          static_cast<const Packed*>(packed), static_cast<const D*>(zero), static_cast<const P*>(scale),
          stat_row_stride, stat_col_stride, bits, rows, cols, static_cast<P*>(out));
      return cudaGetLastError();
    });
  });
}

}  // namespace

cudaError_t dequantize(const void* packed, const void* zero, const void* scale, int64_t stat_row_stride,
                       int64_t stat_col_stride, int bits, int64_t rows, int64_t cols, Dtype difference, Dtype product,
                       void* out, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;  // an empty grid is a launch error
  const auto launch = bits == 3 ? &launch_packed<uint32_t> : &launch_packed<uint8_t>;
  return launch(packed, zero, scale, stat_row_stride, stat_col_stride, bits, rows, cols, difference, product, out,
                stream);
}

}  // namespace oft::hqq::cuda
