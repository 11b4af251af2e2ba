// Host launcher of aqlm_kernels.cuh: returns early on empty work and launches on the given stream with the kernel's
// LaunchShape.
#include "aqlm_kernels.h"

#include "aqlm_kernels.cuh"
#include "oft/sdk/cuda/element_type.cuh"

namespace oft::aqlm::cuda {
namespace {

template <typename Code>
cudaError_t launch_codes(const void* codes, const void* codebooks, const float* scales, int codebook_count, int nbits,
                         int64_t out_group, int64_t in_group, int64_t out_features, int64_t in_features, Dtype dtype,
                         void* out, cudaStream_t stream) {
  const LaunchShape shape = dequantize_shape(out_features, in_features);
  return sdk::cuda::with_element_type(dtype, [&](auto element) {
    using E = decltype(element);
    dequantize_kernel<Code, E><<<shape.blocks, shape.threads, 0, stream>>>(
        static_cast<const Code*>(codes), static_cast<const E*>(codebooks), scales, codebook_count, nbits, out_group,
        in_group, out_features, in_features, static_cast<E*>(out));
    return cudaGetLastError();
  });
}

}  // namespace

cudaError_t dequantize(const void* codes, bool wide_codes, const void* codebooks, const float* scales,
                       int codebook_count, int nbits, int64_t out_group, int64_t in_group, int64_t out_features,
                       int64_t in_features, Dtype dtype, void* out, cudaStream_t stream) {
  if (out_features == 0 || in_features == 0) return cudaSuccess;  // an empty grid is a launch error
  const auto launch = wide_codes ? &launch_codes<uint16_t> : &launch_codes<uint8_t>;
  return launch(codes, codebooks, scales, codebook_count, nbits, out_group, in_group, out_features, in_features, dtype,
                out, stream);
}

}  // namespace oft::aqlm::cuda
