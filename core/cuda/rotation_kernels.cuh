#pragma once
// The OFT rotation kernels and their launch shapes: Cayley-Neumann and exact Cayley rotations of all blocks
// (one CUDA block per OFT block, the matrices in shared memory) and the one-pass block rotation of activations
// with its gradients. All arithmetic is fp32 and lives in rotation_arith.h; this file maps elements to
// threads. The activation kernels make one memory pass and keep several outputs per thread in registers,
// since one output per thread is bound by shared-memory reads (two per product). rotation_kernels.cu
// launches them; tests/cuda/test_kernel_emulation.cpp runs them on the CPU (cuda_emulation.h), so every
// kernel here must be used there (they are file-local: -Wunused-function says when one is not).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cuda_compat.h"
#include "oft/sdk/cuda/float16_bits.cuh"
#include "rotation_arith.h"
#include "rotation_launch.h"

namespace oft::cuda {
namespace {

constexpr int kThreads = 256;
// The most threads of the rotation kernels (matrix_threads): launchable whatever registers they come to need.
constexpr int kMatrixThreads = 1024;
// Output rows per thread in rotate_kernel (each thread kRowsPerThread x 4 outputs).
constexpr int kRowsPerThread = 8;
// Dynamic shared memory a kernel may use without opting in, in floats.
constexpr int kDefaultSharedFloats = 48 * 1024 / sizeof(float);

using sdk::cuda::bits_of;
using sdk::cuda::float_of_bits;
using sdk::cuda::from_float;
using sdk::cuda::kPer16Bytes;
using sdk::cuda::load16;
using sdk::cuda::store16;
using sdk::cuda::to_float;

// 8 bytes at an aligned address, as one access on the GPU.
__device__ inline void store8(void* p, uint2 v) {
#if defined(__CUDACC__)
  *static_cast<uint2*>(p) = v;
#else
  memcpy(p, &v, sizeof(v));
#endif
}

// Whether the activation kernels may move x and y (or dY) in 16-byte accesses: every row segment of a block
// starts on a 16-byte boundary.
inline bool vector_access_fits(int element_bytes, int b, int features, const void* a, const void* c) {
  const int per_vector = 16 / element_bytes;
  return b % per_vector == 0 && features % per_vector == 0 && reinterpret_cast<uintptr_t>(a) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(c) % 16 == 0;
}

// Four floats at 16-byte aligned dst, as one store on the GPU.
__device__ inline void store_floats(float* dst, float a, float b, float c, float d) {
#if defined(__CUDACC__)
  *reinterpret_cast<float4*>(dst) = make_float4(a, b, c, d);
#else
  dst[0] = a, dst[1] = b, dst[2] = c, dst[3] = d;
#endif
}

// The 16 bytes of kPer16Bytes<T> elements into dst (16-byte aligned shared memory) as float32.
template <class T>
__device__ inline void store_as_floats(uint4 bits, float* dst) {
  float v[kPer16Bytes<T>];
  sdk::cuda::unpack_floats<T>(bits, v);
  OFT_UNROLL
  for (int i = 0; i < kPer16Bytes<T>; i += 4) store_floats(dst + i, v[i], v[i + 1], v[i + 2], v[i + 3]);
}

// Loads per thread issued before any is stored: a loop that loads and stores one element at a time waits out
// the memory latency at every element (the first H200 run: 0.33 ms for 64 MB in, 64 MB out).
constexpr int kLoadsInFlight = 4;

// Rows [0, rows) x columns [0, b) of the activations at src (row pitch `features`) into the shared tile dst
// (row pitch `stride`) as float32, in 16-byte loads when `vectorized` (vector_access_fits).
template <class T>
__device__ inline void load_tile(const T* src, int features, int rows, int b, bool vectorized, float* dst, int stride) {
  const int step = kLoadsInFlight * static_cast<int>(blockDim.x);
  if (vectorized) {
    const int per_row = b / kPer16Bytes<T>, total = rows * per_row;
    for (int first = static_cast<int>(threadIdx.x); first < total; first += step) {
      uint4 bits[kLoadsInFlight];
      OFT_UNROLL
      for (int u = 0; u < kLoadsInFlight; ++u) {
        const int v = first + u * static_cast<int>(blockDim.x);
        if (v < total)
          bits[u] = load16(src + static_cast<size_t>(v / per_row) * features + v % per_row * kPer16Bytes<T>);
      }
      OFT_UNROLL
      for (int u = 0; u < kLoadsInFlight; ++u) {
        const int v = first + u * static_cast<int>(blockDim.x);
        if (v < total) store_as_floats<T>(bits[u], dst + v / per_row * stride + v % per_row * kPer16Bytes<T>);
      }
    }
  } else {
    const int total = rows * b;
    for (int first = static_cast<int>(threadIdx.x); first < total; first += step) {
      float values[kLoadsInFlight];
      OFT_UNROLL
      for (int u = 0; u < kLoadsInFlight; ++u) {
        const int e = first + u * static_cast<int>(blockDim.x);
        if (e < total) values[u] = to_float(src[static_cast<size_t>(e / b) * features + e % b]);
      }
      OFT_UNROLL
      for (int u = 0; u < kLoadsInFlight; ++u) {
        const int e = first + u * static_cast<int>(blockDim.x);
        if (e < total) dst[e / b * stride + e % b] = values[u];
      }
    }
  }
}

// Four consecutive outputs, rounded to T, in one 8-byte (16-bit T) or 16-byte (float) store at dst.
template <class T>
__device__ inline void store_four(T* dst, const float (&v)[4]) {
  if constexpr (std::is_same_v<T, float>) {
    store_floats(dst, v[0], v[1], v[2], v[3]);
  } else {
    const uint32_t lo = bits_of(from_float<T>(v[0])) | static_cast<uint32_t>(bits_of(from_float<T>(v[1]))) << 16;
    const uint32_t hi = bits_of(from_float<T>(v[2])) | static_cast<uint32_t>(bits_of(from_float<T>(v[3]))) << 16;
    store8(dst, uint2{lo, hi});
  }
}

__global__ void OFT_LAUNCH_BOUNDS(kMatrixThreads, 1)
    neumann_forward_kernel(const float* vec, int b, int num_terms, float* out) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int bb = b * b;
  float* q = shared;
  float* p = q + bb;
  float* next = p + bb;
  const float* v = vec + static_cast<size_t>(blockIdx.x) * (b * (b - 1) / 2);
  float* r = out + static_cast<size_t>(blockIdx.x) * bb;
  for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::neumann_init(e, v, b, num_terms, q, p, r);
  __syncthreads();
  for (int k = 2; k <= neumann::highest_power(num_terms); ++k) {
    const float c = neumann::coefficient(k, num_terms);
    for (int e = threadIdx.x; e < bb; e += blockDim.x) arith::neumann_step(e, q, p, next, r, b, c);
    __syncthreads();
    float* swap = p;
    p = next;
    next = swap;
  }
}

__global__ void OFT_LAUNCH_BOUNDS(kMatrixThreads, 1)
    neumann_backward_kernel(const float* vec, const float* grad, int b, int num_terms, float* scratch,
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
  for (int k = 1; k < neumann::highest_power(num_terms); ++k) {
    const float c = neumann::coefficient(k + 1, num_terms);
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
__global__ void OFT_LAUNCH_BOUNDS(kMatrixThreads, 1) cayley_forward_kernel(const float* vec, int b, float* out) {
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
__global__ void OFT_LAUNCH_BOUNDS(kMatrixThreads, 1)
    cayley_backward_kernel(const float* rotation, const float* grad, int b, float* grad_vec) {
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

// Grid: x = OFT block k, y strides over token tiles. Each CUDA block holds R_k (or R_k^T) and one tile of x
// in shared memory, both padded (arith::padded_width); each thread computes kRowsPerThread rows x 4 columns
// of y from registers, which reads shared memory a quarter as often as one output per thread would.
template <class T>
__global__ void OFT_LAUNCH_BOUNDS(kThreads, 2)
    rotate_kernel(const T* x, const float* blocks, int64_t tokens, int features, int b, bool shared_block,
                  bool transpose, int tile_rows, bool vectorized, T* y) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int pw = arith::padded_width(b), stride = arith::tile_stride(b), column_groups = pw / 4;
  float* r = shared;
  float* xs = r + pw * pw;
  const int k = blockIdx.x;
  const float* block = blocks + (shared_block ? 0 : static_cast<size_t>(k) * b * b);
  for (int e = threadIdx.x; e < pw * pw; e += blockDim.x) {
    const int i = e / pw, j = e % pw;
    r[e] = i < b && j < b ? (transpose ? block[j * b + i] : block[i * b + j]) : 0.0f;
  }
  // The tile's columns past b are never loaded: zero, so that they add nothing (garbage could be NaN).
  const int pad = stride - b;
  for (int e = threadIdx.x; e < tile_rows * pad; e += blockDim.x) xs[(e / pad) * stride + b + e % pad] = 0.0f;
  // A thread's rows are row, row + row_groups, ...: the rows one warp reads at once are neighbours, in
  // different banks (rows kRowsPerThread apart would share them).
  const int row_groups = tile_rows / kRowsPerThread;
  const int col = static_cast<int>(threadIdx.x) % column_groups * 4;
  const int row = static_cast<int>(threadIdx.x) / column_groups;
  const int64_t tiles = (tokens + tile_rows - 1) / tile_rows;
  for (int64_t tile = blockIdx.y; tile < tiles; tile += gridDim.y) {
    const int64_t first = tile * tile_rows;
    const int rows = static_cast<int>(min(static_cast<int64_t>(tile_rows), tokens - first));
    const size_t base = static_cast<size_t>(first) * features + static_cast<size_t>(k) * b;
    load_tile(x + base, features, rows, b, vectorized, xs, stride);
    __syncthreads();
    if (row < min(rows, row_groups)) {  // rows past the tile's end are computed from stale values, not stored
      float out[kRowsPerThread][4] = {};
      arith::add_rows_times_block(xs + row * stride, row_groups * stride, r, pw, col, out);
      for (int q = 0; q < kRowsPerThread && row + q * row_groups < rows; ++q) {
        T* dst = y + base + static_cast<size_t>(row + q * row_groups) * features + col;
        if (vectorized) {
          store_four(dst, out[q]);
        } else {
          for (int c = 0; c < 4 && col + c < b; ++c) dst[c] = from_float<T>(out[q][c]);
        }
      }
    }
    __syncthreads();  // xs is refilled by the next tile
  }
}

// Grid: x = OFT block k, y = token splits. dR_k = X_k^T dY_k in 4 x 4 cells, one per thread; the threads
// that share a cell split the tile's rows among them. Each thread sums over its tiles in registers; the
// splits' sums then meet in shared memory and each element is added to the fp32 gradient once.
// Launched with exactly kThreads threads (rotate_grad_shape).
template <class T>
__global__ void OFT_LAUNCH_BOUNDS(kThreads, 2)
    rotate_grad_kernel(const T* x, const T* dy, int64_t tokens, int features, int b, bool shared_block, int tile_rows,
                       bool vectorized, float* grad_blocks) {
  OFT_DYNAMIC_SHARED(float, shared);
  const int pw = arith::padded_width(b), stride = arith::tile_stride(b), groups = pw / 4, cells = groups * groups;
  const int splits = kThreads / cells;  // at least 1: cells <= (64 / 4)^2 = kThreads
  float* xs = shared;
  float* gs = xs + tile_rows * stride;
  const int k = blockIdx.x;
  const int cell = static_cast<int>(threadIdx.x) % cells, split = static_cast<int>(threadIdx.x) / cells;
  const int row = cell / groups * 4, col = cell % groups * 4;
  float sums[4][4] = {};
  const int64_t tiles = (tokens + tile_rows - 1) / tile_rows;
  for (int64_t tile = blockIdx.y; tile < tiles; tile += gridDim.y) {
    const int64_t first = tile * tile_rows;
    const int rows = static_cast<int>(min(static_cast<int64_t>(tile_rows), tokens - first));
    const size_t base = static_cast<size_t>(first) * features + static_cast<size_t>(k) * b;
    load_tile(x + base, features, rows, b, vectorized, xs, stride);
    load_tile(dy + base, features, rows, b, vectorized, gs, stride);
    __syncthreads();
    // Columns past b hold stale values: they reach only cells' entries past b, which are never added.
    if (split < splits) arith::add_tile_xty(xs, gs, stride, split, splits, rows, row, col, sums);
    __syncthreads();
  }
  float* partial = shared;  // (splits, pw, pw), over the spent tiles
  if (split < splits)
    for (int p = 0; p < 4; ++p)
      for (int c = 0; c < 4; ++c) partial[(split * pw + row + p) * pw + col + c] = sums[p][c];
  __syncthreads();
  float* grad = grad_blocks + (shared_block ? 0 : static_cast<size_t>(k) * b * b);
  for (int e = threadIdx.x; e < b * b; e += blockDim.x) {
    const int i = e / b, j = e % b;
    float total = 0.0f;
    for (int s = 0; s < splits; ++s) total += partial[(s * pw + i) * pw + j];
    atomicAdd(grad + e, total);
  }
}

// Token rows of rotate_kernel's tile: kRowsPerThread per group of threads that covers the padded width, as
// many groups as there are threads for, at most 64, and within the default shared memory with R beside it.
inline int tile_rows_for(int b) {
  const int pw = arith::padded_width(b);
  const int by_threads = kThreads / (pw / 4);
  const int by_shared = (kDefaultSharedFloats - pw * pw) / (arith::tile_stride(b) * kRowsPerThread);
  return kRowsPerThread * std::min({by_threads, by_shared, 64});
}

// Token rows of rotate_grad_kernel's two tiles (x and dY): at most 512, within the default shared memory.
inline int grad_tile_rows_for(int b) { return std::min(512, kDefaultSharedFloats / (2 * arith::tile_stride(b))); }

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

// Threads of the rotation kernels (one CUDA block per OFT block): one per element of a b x b matrix, up to 1024.
// Each element's entry of a product is a chain of b dependent shared-memory reads and products, so a block of few
// threads waits out their latency (256 threads at b = 32: 11 us for the forward's three products on an H200);
// with one thread per element the multiprocessor switches between 32 warps.
inline unsigned matrix_threads(int b) {
  return static_cast<unsigned>(std::clamp((b * b + 31) / 32 * 32, 32, kMatrixThreads));
}

inline LaunchShape neumann_forward_shape(int64_t blocks, int b) {
  return {dim3(static_cast<unsigned>(blocks)), matrix_threads(b), sizeof(float) * 3 * b * b};
}

inline LaunchShape neumann_backward_shape(int64_t blocks, int b) {
  return {dim3(static_cast<unsigned>(blocks)), matrix_threads(b), sizeof(float) * 5 * b * b};
}

inline LaunchShape cayley_forward_shape(int64_t blocks, int b) {
  return {dim3(static_cast<unsigned>(blocks)), matrix_threads(b), sizeof(float) * (2 * b * b + b)};
}

inline LaunchShape cayley_backward_shape(int64_t blocks, int b) {
  return {dim3(static_cast<unsigned>(blocks)), matrix_threads(b), sizeof(float) * 3 * b * b};
}

// Every tile gets its own CUDA block (up to the grid limit): one pass, no reduction.
inline LaunchShape rotate_shape(int64_t tokens, int features, int b) {
  const int tile_rows = tile_rows_for(b), pw = arith::padded_width(b);
  const int64_t tiles = (tokens + tile_rows - 1) / tile_rows;
  return {dim3(features / b, grid_rows(tiles, 1, tiles)), kThreads,
          sizeof(float) * (pw * pw + tile_rows * arith::tile_stride(b))};
}

// Fewer token splits than tiles: each split reduces several tiles in registers before its atomics. Shared
// memory: the two tiles, later the splits' partial sums.
inline LaunchShape rotate_grad_shape(int64_t tokens, int features, int b) {
  const int tile_rows = grad_tile_rows_for(b), pw = arith::padded_width(b);
  const int64_t tiles = (tokens + tile_rows - 1) / tile_rows;
  const int oft_blocks = features / b;
  const int splits = kThreads / ((pw / 4) * (pw / 4));
  const int floats = std::max(2 * tile_rows * arith::tile_stride(b), splits * pw * pw);
  return {dim3(oft_blocks, grid_rows(tiles, oft_blocks, 2048)), kThreads, sizeof(float) * floats};
}

}  // namespace
}  // namespace oft::cuda
