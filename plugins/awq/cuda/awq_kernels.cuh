#pragma once
// AWQ dequantization, one thread per weight, the arithmetic from awq_dequant_math.h so that it matches the CPU path
// bit for bit; and the launch shape. Each kernel reads the packed codes, the packed zero points and the scales
// once (no unpacked copies) and writes the weight in the scales' dtype. awq_kernels.cu launches them;
// tests/backends/awq/test_awq_kernel_emulation.cpp runs them on the CPU (tests/cuda/cuda_emulation.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "awq_dequant_math.h"
#include "oft/sdk/cuda/float16_bits.cuh"

namespace oft::awq::cuda {
namespace {

constexpr int kThreads = 256;

// gemm layout: W^T (in, n_out) from qweight (in, words) and qzeros (groups, words), both packed along the outputs
// (words = gemm_words(n_out, bits)), and scales (groups, n_out); input k is in group k / group_size. Consecutive
// threads take consecutive outputs n of one input k: they write adjacent values and read adjacent words, and
// output n's field sits at the same place in its qweight and qzeros rows.
template <typename T>
__global__ void dequantize_gemm_kernel(const uint32_t* qweight, const uint32_t* qzeros, const T* scales, int bits,
                                       int64_t group_size, int64_t in, int64_t n_out, T* out) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= in * n_out) return;
  const int64_t k = i / n_out, n = i % n_out, g = k / group_size;
  const int64_t words = math::gemm_words(n_out, bits);
  const math::FieldPosition at = math::gemm_field(n, bits);
  const uint32_t code = math::code_at(qweight + k * words, at, bits);
  const uint32_t zero = math::code_at(qzeros + g * words, at, bits);
  // The scale converts to float32 exactly; the result is rounded once (to nearest even, as c10::Half does).
  out[i] = sdk::cuda::from_float<T>(
      math::dequantize_value(code, static_cast<float>(zero), sdk::cuda::to_float(scales[g * n_out + n])));
}

// gemv layout (4 bits): W (n_out, in) from qweight (n_out, in / 8) in sequential nibbles along the inputs, qzeros
// (n_out, zeros_width) in sequential nibbles along the groups and scales (n_out, 8 * zeros_width), both padded
// beyond the in / group_size groups. Consecutive threads take consecutive inputs k of one output n.
template <typename T>
__global__ void dequantize_gemv_kernel(const uint32_t* qweight, const uint32_t* qzeros, const T* scales,
                                       int64_t group_size, int64_t zeros_width, int64_t in, int64_t n_out, T* out) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= in * n_out) return;
  const int64_t n = i / in, k = i % in, g = k / group_size;
  const uint32_t code = math::code_at(qweight + n * (in / 8), math::sequential4_field(k), 4);
  const uint32_t zero = math::code_at(qzeros + n * zeros_width, math::sequential4_field(g), 4);
  out[i] = sdk::cuda::from_float<T>(
      math::dequantize_value(code, static_cast<float>(zero), sdk::cuda::to_float(scales[n * 8 * zeros_width + g])));
}

// Grid and block of a launch: one thread per value (no dynamic shared memory). Both layouts write in * n_out values.
struct LaunchShape {
  unsigned blocks;
  unsigned threads;
};

inline LaunchShape dequantize_shape(int64_t in, int64_t n_out) {
  return {static_cast<unsigned>((in * n_out + kThreads - 1) / kThreads), kThreads};
}

}  // namespace
}  // namespace oft::awq::cuda
