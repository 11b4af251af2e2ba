#pragma once
// bitsandbytes' dequantization and a fused 4-bit GEMV, one thread (or warp) per output, the arithmetic from
// dequant_math.h so that it matches the CPU path bit for bit; and their launch shapes. bnb_kernels.cu launches
// them; tests/backends/bnb/test_bnb_kernel_emulation.cpp runs them on the CPU (tests/cuda/cuda_emulation.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "bnb_kernels.h"
#include "dequant_math.h"
#include "oft/sdk/cuda/float16_bits.cuh"

namespace oft::bnb::cuda {
namespace {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// One rounding from float32 to the output type (round to nearest even, as c10::Half / c10::BFloat16 do).
__device__ inline void store(float v, float* p) { *p = v; }
__device__ inline void store(float v, __half* p) { *p = __float2half_rn(v); }
__device__ inline void store(float v, __nv_bfloat16* p) { *p = __float2bfloat16_rn(v); }
__device__ inline float load(const float* p) { return *p; }
__device__ inline float load(const __half* p) { return __half2float(*p); }
__device__ inline float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
// v as a T tensor holds it (float32 -> T -> float32).
template <typename T>
__device__ inline float rounded_to(float v) {
  T rounded;
  store(v, &rounded);
  return load(&rounded);
}

// The 16 table values in shared memory; every thread of the block must call it.
__device__ inline void fill_table(float* table, bool nf4) {
  if (threadIdx.x < 16) table[threadIdx.x] = math::code_value(nf4, threadIdx.x);
  __syncthreads();
}

__global__ void nested_absmax_kernel(const uint8_t* codes, const float* map, const float* nested_absmax, float offset,
                                     int64_t n, float* out) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i < n) out[i] = math::nested_absmax_value(map[codes[i]], nested_absmax[i / math::kNestedBlocksize], offset);
}

// One thread per byte: blocksizes are even, so both of its codes share one absmax.
template <typename T>
__global__ void dequantize_4bit_kernel(const uint8_t* packed, const float* absmax, bool nf4, int64_t blocksize,
                                       int64_t n, T* out) {
  __shared__ float table[16];
  fill_table(table, nf4);
  const int64_t byte = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  const int64_t e = 2 * byte;
  if (e >= n) return;
  const uint32_t bits = packed[byte];
  const float scale = absmax[e / blocksize];
  store(math::dequantize_4bit_value(table[math::high_code(bits)], scale), out + e);
  if (e + 1 < n) store(math::dequantize_4bit_value(table[math::low_code(bits)], scale), out + e + 1);
}

template <typename T>
__global__ void dequantize_int8_kernel(const int8_t* cb, const float* scb, int64_t cols, int64_t n, T* out) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i < n) store(math::dequantize_int8_value(cb[i], scb[i / cols]), out + i);
}

constexpr int kWarpsPerBlock = 4;

// One weight of the GEMV as the GEMM path (> 16 tokens) and the CPU path multiply it: dequantized in float32,
// then rounded to the compute dtype T (bitsandbytes' kgemm_4bit_inference_naive holds it in T too). For 16-bit
// T its products with x are then exact in float32: only the summation order differs from the GEMM.
template <typename T>
__device__ inline float gemv_weight(float table_value, float absmax) {
  return rounded_to<T>(math::dequantize_4bit_value(table_value, absmax));
}

using sdk::cuda::kPer16Bytes;

// kPer16Bytes<T> consecutive elements from 16-byte aligned p, as float32.
template <typename T>
__device__ inline void load_run(const T* p, float* out) {
  float v[kPer16Bytes<T>];
  sdk::cuda::unpack_floats<T>(sdk::cuda::load16(p), v);
#pragma unroll
  for (int i = 0; i < kPer16Bytes<T>; ++i) out[i] = v[i];
}

// Block b's absmax, as the CPU path has it (dequantize_absmax for nested codes).
__device__ inline float block_scale(const BlockScales& scales, int64_t b) {
  if (scales.absmax) return scales.absmax[b];
  return math::nested_absmax_value(scales.map[scales.codes[b]], scales.nested_absmax[b / math::kNestedBlocksize],
                                   scales.offset);
}

template <typename T, int kMaxTokens>
__global__ void gemv_4bit_kernel(const T* x, int tokens, int64_t in, int64_t out_features, const uint8_t* packed,
                                 BlockScales scales, bool nf4, int64_t blocksize, const T* bias, bool vectorized,
                                 T* y) {
  __shared__ float table[16];
  fill_table(table, nf4);
  const int lane = threadIdx.x % 32;
  const int64_t row = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32;
  if (row >= out_features) return;  // the whole warp: rows are per warp
  float acc[kMaxTokens];
#pragma unroll
  for (int t = 0; t < kMaxTokens; ++t) acc[t] = 0.0f;
  const int64_t base = row * in;  // the row's first element in the flattened weight
  if (vectorized) {
    // 32 codes (16 bytes) per lane and step; they share one absmax, as blocksizes are multiples of 32. The
    // 32 weights stay in registers while each token's 32 inputs come in 16-byte loads. A lane loads the codes and
    // scales of kChunksAhead steps before it decodes any: one step at a time, each waited out its load (a 4096-wide
    // row is 4 steps a lane).
    constexpr int kChunksAhead = 4;
    const uint4* chunks = reinterpret_cast<const uint4*>(packed + base / 2);
    const int64_t count = in / 32;
    for (int64_t first = lane; first < count; first += 32 * kChunksAhead) {
      uint4 ahead[kChunksAhead];
      float scale_ahead[kChunksAhead];
#pragma unroll
      for (int a = 0; a < kChunksAhead; ++a) {
        const int64_t c = first + 32 * a;
        if (c >= count) break;
        ahead[a] = chunks[c];
        scale_ahead[a] = block_scale(scales, (base + c * 32) / blocksize);
      }
#pragma unroll
      for (int a = 0; a < kChunksAhead; ++a) {
        const int64_t c = first + 32 * a;
        if (c >= count) break;
        const uint4 v = ahead[a];
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
        const int64_t k0 = c * 32;
        const float scale = scale_ahead[a];
        float w[32];
#pragma unroll
        for (int j = 0; j < 16; ++j) {
          const uint32_t bits = math::byte_of(words[j / 4], j % 4);
          w[2 * j] = gemv_weight<T>(table[math::high_code(bits)], scale);
          w[2 * j + 1] = gemv_weight<T>(table[math::low_code(bits)], scale);
        }
#pragma unroll
        for (int t = 0; t < kMaxTokens; ++t) {
          if (t >= tokens) break;
          float xs[32];
#pragma unroll
          for (int i = 0; i < 32; i += kPer16Bytes<T>) load_run(x + t * in + k0 + i, xs + i);
#pragma unroll
          for (int j = 0; j < 16; ++j) acc[t] += w[2 * j] * xs[2 * j] + w[2 * j + 1] * xs[2 * j + 1];
        }
      }
    }
  } else {
    for (int64_t k = lane; k < in; k += 32) {
      const int64_t e = base + k;
      const float w = gemv_weight<T>(table[math::code_at(packed, e)], block_scale(scales, e / blocksize));
#pragma unroll
      for (int t = 0; t < kMaxTokens; ++t)
        if (t < tokens) acc[t] += w * load(x + t * in + k);
    }
  }
#pragma unroll
  for (int t = 0; t < kMaxTokens; ++t)
    for (int offset = 16; offset > 0; offset /= 2) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], offset);
  if (lane != 0) return;
  const float b = bias ? load(bias + row) : 0.0f;
#pragma unroll
  for (int t = 0; t < kMaxTokens; ++t)
    if (t < tokens) store(acc[t] + b, y + t * out_features + row);
}

// Grid and block of a one-dimensional launch (no dynamic shared memory).
struct LaunchShape {
  unsigned blocks;
  unsigned threads;
};

// One thread per element (nested absmax, int8), or per byte of two 4-bit codes.
inline LaunchShape elementwise_shape(int64_t n) { return {blocks_for(n), kThreads}; }
inline LaunchShape dequantize_4bit_shape(int64_t n) { return elementwise_shape((n + 1) / 2); }
// One warp per output row.
inline LaunchShape gemv_shape(int64_t out_features) {
  return {static_cast<unsigned>((out_features + kWarpsPerBlock - 1) / kWarpsPerBlock), kWarpsPerBlock * 32};
}

// f(std::integral_constant<int, kMaxTokens>{}) with the smallest token bound of gemv_4bit_kernel that fits:
// fewer predicated accumulators for the common 1-token decode.
template <class F>
auto with_token_bound(int64_t tokens, F&& f) {
  if (tokens <= 1) return f(std::integral_constant<int, 1>{});
  if (tokens <= 4) return f(std::integral_constant<int, 4>{});
  if (tokens <= 8) return f(std::integral_constant<int, 8>{});
  return f(std::integral_constant<int, 16>{});
}

}  // namespace
}  // namespace oft::bnb::cuda
