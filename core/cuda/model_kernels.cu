// Host launchers of the models' elementwise kernels (model_kernels.cuh).
#include <cuda_runtime.h>

#include "model_kernels.cuh"
#include "model_launch.h"

namespace oft::cuda {
namespace {

// f(T{}) for the element type.
template <class F>
cudaError_t with_element(ElementType type, F&& f) {
  if (type == ElementType::kFloat16) return f(__half{});
  if (type == ElementType::kBFloat16) return f(__nv_bfloat16{});
  return f(float{});
}

}  // namespace

cudaError_t launch_silu_mul(ElementType type, const void* gate, const void* up, int64_t n, void* out,
                            cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return with_element(type, [&](auto element) {
    using T = decltype(element);
    const bool vectorized = elementwise_vectors(sizeof(T), n, {gate, up, out});
    silu_mul_kernel<T><<<elementwise_blocks(vectorized ? n / kPer16Bytes<T> : n), kElementwiseThreads, 0, stream>>>(
        static_cast<const T*>(gate), static_cast<const T*>(up), n, vectorized, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t launch_silu_mul_backward(ElementType type, const void* dy, const void* gate, const void* up, int64_t n,
                                     void* dgate, void* dup, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return with_element(type, [&](auto element) {
    using T = decltype(element);
    const bool vectorized = elementwise_vectors(sizeof(T), n, {dy, gate, up, dgate, dup});
    silu_mul_backward_kernel<T>
        <<<elementwise_blocks(vectorized ? n / kPer16Bytes<T> : n), kElementwiseThreads, 0, stream>>>(
            static_cast<const T*>(dy), static_cast<const T*>(gate), static_cast<const T*>(up), n, vectorized,
            static_cast<T*>(dgate), static_cast<T*>(dup));
    return cudaGetLastError();
  });
}

cudaError_t launch_rotary(ElementType type, const void* v, const void* cos, const void* sin, int64_t n, int64_t heads,
                          int64_t length, int64_t dim, bool backward, void* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return with_element(type, [&](auto element) {
    using T = decltype(element);
    const bool vectorized = dim % (2 * kPer16Bytes<T>) == 0 && elementwise_vectors(sizeof(T), n, {v, cos, sin, out});
    rotary_kernel<T><<<elementwise_blocks(vectorized ? n / kPer16Bytes<T> : n), kElementwiseThreads, 0, stream>>>(
        static_cast<const T*>(v), static_cast<const T*>(cos), static_cast<const T*>(sin), n, heads, length, dim,
        backward, vectorized, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

}  // namespace oft::cuda
