#pragma once
// Host entry points of the models' elementwise kernels (model_kernels.cu): raw device pointers, a count and a
// stream, so that the .cu file needs no LibTorch headers. Each returns the launch's cudaError_t.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "rotation_launch.h"

namespace oft::cuda {

// out = silu(gate) * up, n elements of `type` each.
cudaError_t launch_silu_mul(ElementType type, const void* gate, const void* up, int64_t n, void* out,
                            cudaStream_t stream);
// dgate, dup (either may be null) of silu_mul for the output gradient dy.
cudaError_t launch_silu_mul_backward(ElementType type, const void* dy, const void* gate, const void* up, int64_t n,
                                     void* dgate, void* dup, cudaStream_t stream);

// out = rotary embedding of v (batch, length, heads, dim) contiguous, n elements, cos and sin (length, dim); with
// `backward`, v is the output gradient and out the input gradient.
cudaError_t launch_rotary(ElementType type, const void* v, const void* cos, const void* sin, int64_t n, int64_t heads,
                          int64_t length, int64_t dim, bool backward, void* out, cudaStream_t stream);

}  // namespace oft::cuda
