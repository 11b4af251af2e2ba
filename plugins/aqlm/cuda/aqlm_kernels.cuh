#pragma once
// AQLM dequantization, one thread per weight, the arithmetic from aqlm_dequant_math.h so that it matches the CPU path
// bit for bit; and the launch shape. The kernel reads the stored codes, the codebooks (in their own dtype) and the
// scales directly (no int64 copy of the codes, no gathered codewords, no fp32 sum tensor) and writes W (out, in) in
// the codebooks' dtype. aqlm_kernels.cu launches it; tests/backends/aqlm/test_aqlm_kernel_emulation.cpp runs it on
// the CPU (tests/cuda/cuda_emulation.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "aqlm_dequant_math.h"
#include "oft/sdk/cuda/float16_bits.cuh"

namespace oft::aqlm::cuda {
namespace {

constexpr int kThreads = 256;

// W's value (n, k) (value i = n * in_features + k): output group o = n / og, row j = n % og of its codewords, input
// group g = k / ig, column e = k % ig. codes [N/og, K/ig, C] as aqlm stores them (Code: uint8_t for int8, uint16_t
// for int16, read mod 2^nbits), codebooks [C, 2^nbits, og, ig] of Element, scales N/og float32. As the CPU path:
// the codewords' values summed in float32 from 0, codebook 0 first; the sum rounded to Element as aqlm's CPU
// embedding_bag does (bf16: ties away from zero on the bits; fp16: to nearest even; float32: as it is); times the
// scale in float32; rounded to Element to nearest even. Consecutive threads take consecutive inputs of one output
// row: they read one code tuple (per input group) and adjacent codeword values, and write adjacent values.
template <typename Code, typename Element>
__global__ void dequantize_kernel(const Code* codes, const Element* codebooks, const float* scales, int codebook_count,
                                  int nbits, int64_t out_group, int64_t in_group, int64_t out_features,
                                  int64_t in_features, Element* out) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= out_features * in_features) return;
  const int64_t n = i / in_features, k = i % in_features;
  const int64_t o = n / out_group, j = n % out_group, g = k / in_group, e = k % in_group;
  const int64_t entry = out_group * in_group, book_size = (int64_t{1} << nbits) * entry;
  const uint32_t mask = math::code_mask(nbits);
  const Code* tuple = codes + (o * (in_features / in_group) + g) * codebook_count;
  float sum = 0.f;  // 0 + the first codeword, as the CPU path (a -0 codeword sums to +0)
  for (int c = 0; c < codebook_count; ++c) {
    const int64_t at = math::codeword_index(c, math::code_of(tuple[c], mask), book_size, entry, j * in_group + e);
    sum = math::add_codeword(sum, sdk::cuda::to_float(codebooks[at]));  // exact conversion
  }
  if constexpr (std::is_same_v<Element, __nv_bfloat16>)
    sum = math::round_sum_to_bf16(sum);
  else
    sum = sdk::cuda::to_float(sdk::cuda::from_float<Element>(sum));  // fp16: nearest even; fp32: unchanged
  out[i] = sdk::cuda::from_float<Element>(math::times_scale(sum, scales[o]));
}

// Grid and block of a launch: one thread per value (no dynamic shared memory).
struct LaunchShape {
  unsigned blocks;
  unsigned threads;
};

inline LaunchShape dequantize_shape(int64_t out_features, int64_t in_features) {
  return {static_cast<unsigned>((out_features * in_features + kThreads - 1) / kThreads), kThreads};
}

}  // namespace
}  // namespace oft::aqlm::cuda
