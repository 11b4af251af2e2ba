// Host launchers of awq_kernels.cuh: return early on empty work and launch on the given stream with the kernels'
// LaunchShape.
#include "awq_kernels.h"

#include "awq_kernels.cuh"
#include "oft/sdk/cuda/element_type.cuh"

namespace oft::awq::cuda {

cudaError_t dequantize_gemm(const uint32_t* qweight, const uint32_t* qzeros, const void* scales, int bits,
                            int64_t group_size, int64_t in, int64_t n_out, Dtype dtype, void* out,
                            cudaStream_t stream) {
  if (in == 0 || n_out == 0) return cudaSuccess;  // an empty grid is a launch error
  const LaunchShape shape = dequantize_shape(in, n_out);
  return sdk::cuda::with_element_type(dtype, [&](auto element) {
    using T = decltype(element);
    dequantize_gemm_kernel<T><<<shape.blocks, shape.threads, 0, stream>>>(
        qweight, qzeros, static_cast<const T*>(scales), bits, group_size, in, n_out, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t dequantize_gemv(const uint32_t* qweight, const uint32_t* qzeros, const void* scales, int64_t group_size,
                            int64_t zeros_width, int64_t in, int64_t n_out, Dtype dtype, void* out,
                            cudaStream_t stream) {
  if (in == 0 || n_out == 0) return cudaSuccess;
  const LaunchShape shape = dequantize_shape(in, n_out);
  return sdk::cuda::with_element_type(dtype, [&](auto element) {
    using T = decltype(element);
    dequantize_gemv_kernel<T><<<shape.blocks, shape.threads, 0, stream>>>(
        qweight, qzeros, static_cast<const T*>(scales), group_size, zeros_width, in, n_out, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

}  // namespace oft::awq::cuda
