#pragma once
// HQQ dequantization, one thread per weight, the arithmetic from hqq_dequant_math.h so that it matches the CPU path
// bit for bit; and the launch shape. The kernel reads the packed codes, the zero points and the scales once (no
// unpacked copy, no temporaries) and writes W in hqq's product dtype. hqq_kernels.cu launches it;
// tests/backends/hqq/test_hqq_kernel_emulation.cpp runs it on the CPU (tests/cuda/cuda_emulation.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "hqq_dequant_math.h"
#include "oft/sdk/cuda/float16_bits.cuh"

namespace oft::hqq::cuda {
namespace {

constexpr int kThreads = 256;

// The (rows, cols) code matrix's values (W (out, in) in row-major order: value i is code row i / cols, column
// i % cols) from `packed`, (packed_rows(rows, planes_for_bits(bits)), cols) elements of Packed (uint8_t for the byte
// packings, uint32_t for "3bit_32"), each plane's codes in its bits. zero (Difference) and scale (Product) of value
// (r, c) are at r * stat_row_stride + c * stat_col_stride: strides (1, 0) for one per code row (axis 1), (0, 1) for
// one per code column (axis 0), (0, 0) for one in all. hqq's two steps, each in float32 and rounded: code - zero to
// Difference, then times scale to Product. Consecutive threads take consecutive columns of one code row: they read
// adjacent packed elements and write adjacent values.
template <typename Packed, typename Difference, typename Product>
__global__ void dequantize_kernel(const Packed* packed, const Difference* zero, const Product* scale,
                                  int64_t stat_row_stride, int64_t stat_col_stride, int bits, int64_t rows,
                                  int64_t cols, Product* out) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, c = i % cols, planes = math::planes_for_bits(bits);
  const auto code_bits = static_cast<uint32_t>(bits);
  const math::CodePlace at = math::code_place(r, math::packed_rows(rows, planes), planes, code_bits);
  const uint32_t code =
      math::code_in(static_cast<uint32_t>(packed[at.packed_row * cols + c]), at.shift, math::code_mask(code_bits));
  const int64_t g = r * stat_row_stride + c * stat_col_stride;
  // Both roundings to nearest even, as c10::Half and c10::BFloat16 do (nothing to round for float32).
  const float difference =
      sdk::cuda::to_float(sdk::cuda::from_float<Difference>(math::code_minus_zero(code, sdk::cuda::to_float(zero[g]))));
  out[i] = sdk::cuda::from_float<Product>(math::times_scale(difference, sdk::cuda::to_float(scale[g])));
}

// Grid and block of a launch: one thread per value (no dynamic shared memory).
struct LaunchShape {
  unsigned blocks;
  unsigned threads;
};

inline LaunchShape dequantize_shape(int64_t rows, int64_t cols) {
  return {static_cast<unsigned>((rows * cols + kThreads - 1) / kThreads), kThreads};
}

}  // namespace
}  // namespace oft::hqq::cuda
