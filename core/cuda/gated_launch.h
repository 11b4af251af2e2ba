#pragma once
// Host entry points of the gated MLP product's kernels (gated_kernels.cu): raw device pointers, a count and a
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

}  // namespace oft::cuda
