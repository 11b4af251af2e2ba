#pragma once
// The models' elementwise steps in one pass over the tensors each way, element by element, with the arithmetic and
// roundings of LibTorch's operators so that the values are theirs: the gated MLP product silu(gate) * up and its
// backward (the operators make two passes forward, three back; silu in fp32 as x / (1 + exp(-x)), its result
// rounded to the dtype, the product in fp32 rounded once), and the rotary position embedding and its backward (the
// operators make five passes each way). model_kernels.cu launches them; tests/cuda/test_kernel_emulation.cpp runs
// them on the CPU (cuda_emulation.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "oft/sdk/cuda/float16_bits.cuh"

namespace oft::cuda {
namespace {

using sdk::cuda::from_float;
using sdk::cuda::to_float;

constexpr int kElementwiseThreads = 256;
// Enough blocks to fill any GPU; the threads loop over the rest.
constexpr int64_t kMaxElementwiseBlocks = 8192;

inline unsigned elementwise_blocks(int64_t n) {
  return static_cast<unsigned>(std::min(kMaxElementwiseBlocks, (n + kElementwiseThreads - 1) / kElementwiseThreads));
}

__device__ inline float silu_value(float x) { return x / (1.0f + expf(-x)); }

// g * d silu(x) / dx, as LibTorch's silu_backward: s = 1 / (1 + exp(-x)), g s (1 + x (1 - s)).
__device__ inline float silu_gradient(float g, float x) {
  const float s = 1.0f / (1.0f + expf(-x));
  return g * s * (1.0f + x * (1.0f - s));
}

// v as a T tensor holds it.
template <class T>
__device__ inline float rounded(float v) {
  return to_float(from_float<T>(v));
}

template <class T>
__global__ void silu_mul_kernel(const T* gate, const T* up, int64_t n, T* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = from_float<T>(rounded<T>(silu_value(to_float(gate[i]))) * to_float(up[i]));
}

// d gate and d up of silu_mul_kernel for the output gradient dy; either output may be null (not wanted).
template <class T>
__global__ void silu_mul_backward_kernel(const T* dy, const T* gate, const T* up, int64_t n, T* dgate, T* dup) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float g = to_float(dy[i]), x = to_float(gate[i]);
    if (dup) dup[i] = from_float<T>(g * rounded<T>(silu_value(x)));
    if (dgate) dgate[i] = from_float<T>(silu_gradient(rounded<T>(g * to_float(up[i])), x));
  }
}

// Rotary embedding of rows of `dim` values, row r at position (r / heads) % length (x (batch, length, heads, dim)
// contiguous), cos and sin (length, dim): out[d] = v[d] cos[d] + rotate_half(v)[d] sin[d], where rotate_half(v)[d] is
// -v[d + dim/2] in the first half and v[d - dim/2] in the second, each product and the sum rounded to T as the
// operators round them. With `backward`, v is the output gradient and out the input gradient: autograd's
// dv[d] = dy[d] cos[d] + rotate_half's transpose applied to dy sin, i.e. + dy[d + dim/2] sin[d + dim/2] in the first
// half and - dy[d - dim/2] sin[d - dim/2] in the second.
template <class T>
__global__ void rotary_kernel(const T* v, const T* cos, const T* sin, int64_t n, int64_t heads, int64_t length,
                              int64_t dim, bool backward, T* out) {
  const int64_t half = dim / 2;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t d = i % dim, position = (i / dim / heads) % length;
    const bool first_half = d < half;
    const int64_t partner = first_half ? i + half : i - half;
    const int64_t angle = position * dim + d, partner_angle = first_half ? angle + half : angle - half;
    const float cos_term = rounded<T>(to_float(v[i]) * to_float(cos[angle]));
    const float sin_value = to_float(sin[backward ? partner_angle : angle]);
    const float sin_term = rounded<T>(to_float(v[partner]) * sin_value);
    // Forward: -v[partner] in the first half; backward: the transpose, - in the second half.
    out[i] = from_float<T>(first_half != backward ? cos_term - sin_term : cos_term + sin_term);
  }
}

}  // namespace
}  // namespace oft::cuda
