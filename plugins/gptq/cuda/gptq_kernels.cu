// Host launcher of gptq_kernels.cuh: returns early on empty work and launches on the given stream with the
// kernel's LaunchShape.
#include "gptq_kernels.h"

#include "gptq_kernels.cuh"

namespace oft::gptq::cuda {
namespace {

template <typename T>
cudaError_t launch(const uint32_t* qweight, const float* zeros, const float* scales, const int32_t* g_idx,
                   int64_t groups, int bits, int64_t in, int64_t n_out, void* out, cudaStream_t stream) {
  if (in == 0 || n_out == 0) return cudaSuccess;  // an empty grid is a launch error
  const LaunchShape shape = dequantize_kn_shape(in, n_out);
  dequantize_kn_kernel<T><<<shape.blocks, shape.threads, 0, stream>>>(qweight, zeros, scales, g_idx, groups, bits, in,
                                                                      n_out, static_cast<T*>(out));
  return cudaGetLastError();
}

}  // namespace

cudaError_t dequantize_kn(const uint32_t* qweight, const float* zeros, const float* scales, const int32_t* g_idx,
                          int64_t groups, int bits, int64_t in, int64_t n_out, Dtype dtype, void* out,
                          cudaStream_t stream) {
  switch (dtype) {
    case Dtype::Float16: return launch<__half>(qweight, zeros, scales, g_idx, groups, bits, in, n_out, out, stream);
    case Dtype::BFloat16:
      return launch<__nv_bfloat16>(qweight, zeros, scales, g_idx, groups, bits, in, n_out, out, stream);
    default: return launch<float>(qweight, zeros, scales, g_idx, groups, bits, in, n_out, out, stream);
  }
}

}  // namespace oft::gptq::cuda
