#pragma once
// GPTQ dequantization, one thread per weight, the arithmetic from gptq_dequant_math.h so that it matches the
// CPU path bit for bit; and its launch shape. gptq_kernels.cu launches it; tests/backends/gptq/
// test_gptq_kernel_emulation.cpp runs it on the CPU (tests/cuda/cuda_emulation.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "gptq_dequant_math.h"

namespace oft::gptq::cuda {
namespace {

constexpr int kThreads = 256;

// One rounding from float32 (round to nearest even, as c10::Half / c10::BFloat16 do).
__device__ inline void store(float v, float* p) { *p = v; }
__device__ inline void store(float v, __half* p) { *p = __float2half_rn(v); }
__device__ inline void store(float v, __nv_bfloat16* p) { *p = __float2bfloat16_rn(v); }

// Consecutive threads take consecutive outputs n of one input k: the packed words they read are adjacent.
template <typename T>
__global__ void dequantize_kn_kernel(const uint32_t* qweight, const float* zeros, const float* scales,
                                     const int32_t* g_idx, int64_t groups, int bits, int64_t in, int64_t n_out,
                                     T* out) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= in * n_out) return;
  const int64_t k = i / n_out, n = i % n_out;
  const math::FieldPosition pos = math::field_position(k, bits);
  const uint32_t mask = math::code_mask(bits);
  const uint32_t lo = qweight[pos.row * n_out + n];
  const uint32_t code = math::straddles(pos.shift, bits)
                            ? math::code_across_words(lo, qweight[(pos.row + 1) * n_out + n], pos.shift, mask)
                            : math::code_in_word(lo, pos.shift, mask);
  // Clamped, so that no g_idx reads outside zeros/scales; checking it here would need a device-to-host read
  // at every call, so GptqLinear checks it (once per change) and reports it.
  const int64_t g = g_idx[k] < 0 ? 0 : (g_idx[k] >= groups ? groups - 1 : g_idx[k]);
  store(math::dequantize_value(code, zeros[g * n_out + n], scales[g * n_out + n]), out + i);
}

// Grid and block of the launch: one thread per value (no dynamic shared memory).
struct LaunchShape {
  unsigned blocks;
  unsigned threads;
};

inline LaunchShape dequantize_kn_shape(int64_t in, int64_t n_out) {
  return {static_cast<unsigned>((in * n_out + kThreads - 1) / kThreads), kThreads};
}

}  // namespace
}  // namespace oft::gptq::cuda
