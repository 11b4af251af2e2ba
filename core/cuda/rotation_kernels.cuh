#pragma once
// The OFT rotation kernels and their launch shapes: Cayley-Neumann and exact Cayley rotations of all blocks
// (one CUDA block per OFT block, the matrices in shared memory) and the one-pass block rotation of activations
// with its gradients. All arithmetic is fp32 and lives in rotation_arith.h; this file maps elements to
// threads. Simple on purpose: one memory pass over the activations is what matters. rotation_kernels.cu
// launches them; tests/cuda/test_kernel_emulation.cpp runs them on the CPU (cuda_emulation.h), so every
// kernel here must be used there (they are file-local: -Wunused-function says when one is not).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "cuda_compat.h"
#include "rotation_arith.h"
#include "rotation_launch.h"

namespace oft::cuda {
namespace {

constexpr int kThreads = 256;
// Elements of a b x b block one thread owns (b <= 64) in rotate_grad_kernel, which therefore must be launched
// with exactly kThreads threads (rotate_grad_shape does).
constexpr int kOwnedPerThread = kMaxKernelBlockSize * kMaxKernelBlockSize / kThreads;
static_assert(kOwnedPerThread * kThreads == kMaxKernelBlockSize * kMaxKernelBlockSize);
// Token rows of x in shared memory per tile: about 4096 elements whatever b is.
constexpr int kTileElements = 4096;

__device__ inline float to_float(float v) { return v; }
__device__ inline float to_float(__half v) { return __half2float(v); }
__device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ inline T from_float(float v);
template <>
__device__ inline float from_float<float>(float v) {
  return v;
}
template <>
__device__ inline __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

__global__ void neumann_forward_kernel(const float* vec, int b, int num_terms, float* out) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int bb = b * b;
  float* q = shared;
  float* p = q + bb;
  float* next = p + bb;
  const float* v = vec + static_cast<size_t>(blockIdx.x) * (b * (b - 1) / 2);
  float* r = out + static_cast<size_t>(blockIdx.x) * bb;
  for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::neumann_init(e, v, b, num_terms, q, p, r);
  __syncthreads();
  for (int k = 2; k <= arith::neumann_highest_power(num_terms); ++k) {
    const float c = arith::neumann_coefficient(k, num_terms);
    for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::neumann_step(e, q, p, next, r, b, c);
    __syncthreads();
    float* swap = p;
    p = next;
    next = swap;
  }
}

__global__ void neumann_backward_kernel(const float* vec, const float* grad, int b, int num_terms, float* scratch,
                                        float* grad_vec) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int bb = b * b;
  float* q = shared;
  float* a = q + bb;
  float* s = a + bb;
  float* a_next = s + bb;
  float* s_next = a_next + bb;
  const size_t vec_offset = static_cast<size_t>(blockIdx.x) * (b * (b - 1) / 2);
  const float* v = vec + vec_offset;
  const float* g = grad + static_cast<size_t>(blockIdx.x) * bb;
  float* d = scratch + static_cast<size_t>(blockIdx.x) * bb;
  for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::neumann_grad_init(e, v, g, b, num_terms, q, a, s, d);
  __syncthreads();
  for (int k = 1; k < arith::neumann_highest_power(num_terms); ++k) {
    const float c = arith::neumann_coefficient(k + 1, num_terms);
    for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::neumann_grad_step(e, q, g, a, s, a_next, s_next, d, b, c);
    __syncthreads();
    float* swap = a;
    a = a_next;
    a_next = swap;
    swap = s;
    s = s_next;
    s_next = swap;
  }
  for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::skew_grad_vector(e, d, b, grad_vec + vec_offset);
}

// Exact Cayley by Gauss-Jordan on [I + Q | I] in shared memory; f holds the pivot row's factors.
__global__ void cayley_forward_kernel(const float* vec, int b, float* out) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int bb = b * b;
  float* m = shared;
  float* f = m + 2 * bb;
  const float* v = vec + static_cast<size_t>(blockIdx.x) * (b * (b - 1) / 2);
  float* r = out + static_cast<size_t>(blockIdx.x) * bb;
  for (int e = threadIdx.x; e < 2 * bb; e += blockDim.x) arith::cayley_augment(e, v, b, m);
  __syncthreads();
  for (int k = 0; k < b; ++k) {
    for (int row = threadIdx.x; row < b; row += blockDim.x) arith::gauss_jordan_factor(row, m, b, k, f);
    __syncthreads();
    for (int e = threadIdx.x; e < 2 * bb; e += blockDim.x) arith::gauss_jordan_eliminate(e, m, b, k, f);
    __syncthreads();
    for (int c = threadIdx.x; c < 2 * b; c += blockDim.x) arith::gauss_jordan_normalize(c, m, b, k, f);
    __syncthreads();
  }
  for (int e = threadIdx.x; e < bb; e += blockDim.x) r[e] = arith::cayley_from_inverse(e, m, b);
}

// From the saved rotation R and G = dL/dR: D = -1/2 S^T G S^T with S = R + I, then the skew vector's gradient.
__global__ void cayley_backward_kernel(const float* rotation, const float* grad, int b, float* grad_vec) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int bb = b * b;
  float* s = shared;
  float* g = s + bb;
  float* t = g + bb;
  const size_t offset = static_cast<size_t>(blockIdx.x) * bb;
  for (int e = threadIdx.x; e < bb; e += blockDim.x) {
    arith::cayley_grad_init(e, rotation + offset, b, s);
    g[e] = grad[offset + e];
  }
  __syncthreads();
  for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::cayley_grad_left(e, s, g, b, t);
  __syncthreads();
  float* d = g;  // G is spent
  for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::cayley_grad_right(e, t, s, b, d);
  __syncthreads();
  for (int e = threadIdx.x; e < bb; e += blockDim.x)
    arith::skew_grad_vector(e, d, b, grad_vec + static_cast<size_t>(blockIdx.x) * (b * (b - 1) / 2));
}

// Grid: x = OFT block k, y strides over token tiles. Each CUDA block holds R_k (or R_k^T) and one tile.
template <class T>
__global__ void rotate_kernel(const T* x, const float* blocks, int64_t tokens, int features, int b, bool shared_block,
                              bool transpose, int tile_rows, T* y) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int bb = b * b;
  float* r = shared;
  float* xs = r + bb;
  const int k = blockIdx.x;
  const float* block = blocks + (shared_block ? 0 : static_cast<size_t>(k) * bb);
  for (int e = threadIdx.x; e < bb; e += blockDim.x) r[e] = transpose ? block[(e % b) * b + e / b] : block[e];
  const int64_t tiles = (tokens + tile_rows - 1) / tile_rows;
  for (int64_t tile = blockIdx.y; tile < tiles; tile += gridDim.y) {
    const int64_t first = tile * tile_rows;
    const int rows = static_cast<int>(min(static_cast<int64_t>(tile_rows), tokens - first));
    const size_t base = static_cast<size_t>(first) * features + static_cast<size_t>(k) * b;
    for (int e = threadIdx.x; e < rows * b; e += blockDim.x)
      xs[e] = to_float(x[base + static_cast<size_t>(e / b) * features + e % b]);
    __syncthreads();
    for (int e = threadIdx.x; e < rows * b; e += blockDim.x)
      y[base + static_cast<size_t>(e / b) * features + e % b] =
          from_float<T>(arith::row_times_block(xs + (e / b) * b, r, e % b, b));
    __syncthreads();  // xs is refilled by the next tile
  }
}

// Grid: x = OFT block k, y = token splits. Each thread sums its elements of x_k^T dy_k over its tiles
// in registers, then adds them to the fp32 gradient once.
template <class T>
__global__ void rotate_grad_kernel(const T* x, const T* dy, int64_t tokens, int features, int b, bool shared_block,
                                   int tile_rows, float* grad_blocks) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int bb = b * b;
  float* xs = shared;
  float* gs = xs + tile_rows * b;
  const int k = blockIdx.x;
  float sums[kOwnedPerThread];
  for (int o = 0; o < kOwnedPerThread; ++o) sums[o] = 0.0f;
  const int64_t tiles = (tokens + tile_rows - 1) / tile_rows;
  for (int64_t tile = blockIdx.y; tile < tiles; tile += gridDim.y) {
    const int64_t first = tile * tile_rows;
    const int rows = static_cast<int>(min(static_cast<int64_t>(tile_rows), tokens - first));
    const size_t base = static_cast<size_t>(first) * features + static_cast<size_t>(k) * b;
    for (int e = threadIdx.x; e < rows * b; e += blockDim.x) {
      const size_t at = base + static_cast<size_t>(e / b) * features + e % b;
      xs[e] = to_float(x[at]);
      gs[e] = to_float(dy[at]);
    }
    __syncthreads();
    for (int o = 0; o < kOwnedPerThread; ++o) {
      const int e = threadIdx.x + o * blockDim.x;
      if (e < bb) sums[o] += arith::tile_xty_entry(xs, gs, rows, e / b, e % b, b);
    }
    __syncthreads();
  }
  float* grad = grad_blocks + (shared_block ? 0 : static_cast<size_t>(k) * bb);
  for (int o = 0; o < kOwnedPerThread; ++o) {
    const int e = threadIdx.x + o * blockDim.x;
    if (e < bb) atomicAdd(grad + e, sums[o]);
  }
}

inline int tile_rows_for(int b) { return std::max(1, kTileElements / b); }

// Token tiles per grid column: enough CUDA blocks to fill the GPU, within the grid's y limit.
inline unsigned grid_rows(int64_t tiles, int64_t oft_blocks, int64_t wanted_ctas) {
  const int64_t per_block = std::max<int64_t>(1, wanted_ctas / std::max<int64_t>(1, oft_blocks));
  return static_cast<unsigned>(std::min<int64_t>({tiles, per_block, 65535}));
}

// Grid, threads per block and dynamic shared bytes of each kernel's launch.
struct LaunchShape {
  dim3 grid;
  unsigned threads;
  size_t shared_bytes;
};

inline LaunchShape neumann_forward_shape(int64_t blocks, int b) {
  return {dim3(static_cast<unsigned>(blocks)), kThreads, sizeof(float) * 3 * b * b};
}

inline LaunchShape neumann_backward_shape(int64_t blocks, int b) {
  return {dim3(static_cast<unsigned>(blocks)), kThreads, sizeof(float) * 5 * b * b};
}

inline LaunchShape cayley_forward_shape(int64_t blocks, int b) {
  return {dim3(static_cast<unsigned>(blocks)), kThreads, sizeof(float) * (2 * b * b + b)};
}

inline LaunchShape cayley_backward_shape(int64_t blocks, int b) {
  return {dim3(static_cast<unsigned>(blocks)), kThreads, sizeof(float) * 3 * b * b};
}

// Every tile gets its own CUDA block (up to the grid limit): one pass, no reduction.
inline LaunchShape rotate_shape(int64_t tokens, int features, int b) {
  const int tile_rows = tile_rows_for(b);
  const int64_t tiles = (tokens + tile_rows - 1) / tile_rows;
  return {dim3(features / b, grid_rows(tiles, 1, tiles)), kThreads, sizeof(float) * (b * b + tile_rows * b)};
}

// Fewer token splits than tiles: each split reduces several tiles in registers before its atomics.
inline LaunchShape rotate_grad_shape(int64_t tokens, int features, int b) {
  const int tile_rows = tile_rows_for(b);
  const int64_t tiles = (tokens + tile_rows - 1) / tile_rows;
  const int oft_blocks = features / b;
  return {dim3(oft_blocks, grid_rows(tiles, oft_blocks, 2048)), kThreads, sizeof(float) * 2 * tile_rows * b};
}

}  // namespace
}  // namespace oft::cuda
