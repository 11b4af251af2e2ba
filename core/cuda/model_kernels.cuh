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
#include <initializer_list>

#include "cuda_compat.h"
#include "oft/sdk/cuda/float16_bits.cuh"

namespace oft::cuda {
namespace {

using sdk::cuda::from_float;
using sdk::cuda::kPer16Bytes;
using sdk::cuda::to_float;

constexpr int kElementwiseThreads = 256;
// Enough blocks to fill any GPU; the threads loop over the rest.
constexpr int64_t kMaxElementwiseBlocks = 8192;

// For n threads' worth of work (elements, or 16-byte vectors of them).
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

// 16 bytes of T at p (16-byte aligned) as floats, and back.
template <class T>
__device__ inline void load_vector(const T* p, float (&v)[kPer16Bytes<T>]) {
  sdk::cuda::unpack_floats<T>(sdk::cuda::load16(p), v);
}

template <class T>
__device__ inline void store_vector(const float (&v)[kPer16Bytes<T>], T* p) {
  sdk::cuda::store16(p, sdk::cuda::pack_floats<T>(v));
}

// Whether n elements of `element_bytes` at each of `pointers` can move 16 bytes at a time.
inline bool elementwise_vectors(int element_bytes, int64_t n, std::initializer_list<const void*> pointers) {
  if (n % (16 / element_bytes) != 0) return false;
  for (const void* p : pointers)
    if (p != nullptr && reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// Threads' elements (or 16-byte vectors of them): a grid-stride loop.
#define OFT_GRID_STRIDE(i, count) \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (count); i += int64_t{gridDim.x} * blockDim.x)

template <class T>
__device__ inline float silu_mul_value(float gate, float up) {
  return rounded<T>(silu_value(gate)) * up;
}

// out = silu(gate) * up; `vectorized`: elementwise_vectors holds for gate, up and out.
template <class T>
__global__ void silu_mul_kernel(const T* gate, const T* up, int64_t n, bool vectorized, T* out) {
  constexpr int kLanes = kPer16Bytes<T>;
  if (vectorized) {
    OFT_GRID_STRIDE(v, n / kLanes) {
      float g[kLanes], u[kLanes], o[kLanes];
      load_vector(gate + v * kLanes, g);
      load_vector(up + v * kLanes, u);
      OFT_UNROLL
      for (int j = 0; j < kLanes; ++j) o[j] = silu_mul_value<T>(g[j], u[j]);
      store_vector(o, out + v * kLanes);
    }
    return;
  }
  OFT_GRID_STRIDE(i, n) out[i] = from_float<T>(silu_mul_value<T>(to_float(gate[i]), to_float(up[i])));
}

// d up and d gate of silu_mul for the output gradient dy at one element.
template <class T>
__device__ inline float silu_mul_dup(float dy, float gate) {
  return dy * rounded<T>(silu_value(gate));
}
template <class T>
__device__ inline float silu_mul_dgate(float dy, float gate, float up) {
  return silu_gradient(rounded<T>(dy * up), gate);
}

// d gate and d up of silu_mul_kernel for the output gradient dy; either output may be null (not wanted).
template <class T>
__global__ void silu_mul_backward_kernel(const T* dy, const T* gate, const T* up, int64_t n, bool vectorized, T* dgate,
                                         T* dup) {
  constexpr int kLanes = kPer16Bytes<T>;
  if (vectorized) {
    OFT_GRID_STRIDE(v, n / kLanes) {
      float d[kLanes], g[kLanes], u[kLanes], o[kLanes];
      load_vector(dy + v * kLanes, d);
      load_vector(gate + v * kLanes, g);
      if (dup) {
        OFT_UNROLL
        for (int j = 0; j < kLanes; ++j) o[j] = silu_mul_dup<T>(d[j], g[j]);
        store_vector(o, dup + v * kLanes);
      }
      if (dgate) {
        load_vector(up + v * kLanes, u);
        OFT_UNROLL
        for (int j = 0; j < kLanes; ++j) o[j] = silu_mul_dgate<T>(d[j], g[j], u[j]);
        store_vector(o, dgate + v * kLanes);
      }
    }
    return;
  }
  OFT_GRID_STRIDE(i, n) {
    const float d = to_float(dy[i]), g = to_float(gate[i]);
    if (dup) dup[i] = from_float<T>(silu_mul_dup<T>(d, g));
    if (dgate) dgate[i] = from_float<T>(silu_mul_dgate<T>(d, g, to_float(up[i])));
  }
}

// a * b rounded to fp32 on its own. A plain product followed by a sum is one FMA for nvcc (one rounding), where
// the operators round the product in one kernel and add in the next: fp32 values would differ in the last bit.
__device__ inline float unfused_product(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;  // host code is built with -ffp-contract=off
#endif
}

// One output of the rotary embedding: v cos + rotate_half(v) sin from v, its partner in the other half, and the
// angle's cos and sin (the partner angle's sin in the backward), each product and the sum rounded as the operators.
template <class T>
__device__ inline float rotary_value(float v, float partner, float cos, float sin, bool first_half, bool backward) {
  const float cos_term = rounded<T>(unfused_product(v, cos)), sin_term = rounded<T>(unfused_product(partner, sin));
  // Forward: -v[partner] in the first half; backward: the transpose, - in the second half.
  return first_half != backward ? cos_term - sin_term : cos_term + sin_term;
}

// Rotary embedding of rows of `dim` values, row r at position (r / heads) % length (x (batch, length, heads, dim)
// contiguous), cos and sin (length, dim): out[d] = v[d] cos[d] + rotate_half(v)[d] sin[d], where rotate_half(v)[d] is
// -v[d + dim/2] in the first half and v[d - dim/2] in the second, each product and the sum rounded to T as the
// operators round them. With `backward`, v is the output gradient and out the input gradient: autograd's
// dv[d] = dy[d] cos[d] + rotate_half's transpose applied to dy sin, i.e. + dy[d + dim/2] sin[d + dim/2] in the first
// half and - dy[d - dim/2] sin[d - dim/2] in the second. `vectorized`: dim / 2 is a whole number of 16-byte vectors
// and every pointer 16-byte aligned (a vector then lies in one half of one row).
template <class T>
__global__ void rotary_kernel(const T* v, const T* cos, const T* sin, int64_t n, int64_t heads, int64_t length,
                              int64_t dim, bool backward, bool vectorized, T* out) {
  constexpr int kLanes = kPer16Bytes<T>;
  const int64_t half = dim / 2;
  // Where element i's partner and angles are.
  const auto locate = [&](int64_t i, int64_t& partner, int64_t& angle, int64_t& sin_at, bool& first_half) {
    const int64_t d = i % dim, position = (i / dim / heads) % length;
    first_half = d < half;
    partner = first_half ? i + half : i - half;
    angle = position * dim + d;
    sin_at = backward ? (first_half ? angle + half : angle - half) : angle;
  };
  if (vectorized) {
    OFT_GRID_STRIDE(w, n / kLanes) {
      int64_t partner, angle, sin_at;
      bool first_half;
      locate(w * kLanes, partner, angle, sin_at, first_half);
      float a[kLanes], b[kLanes], c[kLanes], s[kLanes], o[kLanes];
      load_vector(v + w * kLanes, a);
      load_vector(v + partner, b);
      load_vector(cos + angle, c);
      load_vector(sin + sin_at, s);
      OFT_UNROLL
      for (int j = 0; j < kLanes; ++j) o[j] = rotary_value<T>(a[j], b[j], c[j], s[j], first_half, backward);
      store_vector(o, out + w * kLanes);
    }
    return;
  }
  OFT_GRID_STRIDE(i, n) {
    int64_t partner, angle, sin_at;
    bool first_half;
    locate(i, partner, angle, sin_at, first_half);
    out[i] = from_float<T>(rotary_value<T>(to_float(v[i]), to_float(v[partner]), to_float(cos[angle]),
                                           to_float(sin[sin_at]), first_half, backward));
  }
}

#undef OFT_GRID_STRIDE

}  // namespace
}  // namespace oft::cuda
