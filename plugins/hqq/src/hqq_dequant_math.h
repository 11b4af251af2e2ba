#pragma once
// The arithmetic of HQQ dequantization, one definition for the CPU path's scalar code (hqq_dequant_cpu.cpp, the
// packing's plane order in hqq_packing.cpp) and the CUDA kernel (cuda/hqq_kernels.cuh): where code row r sits in
// the packed planes (hqq_packing.h: the first plane in the most significant bits), its extraction, and hqq's two
// steps (code - zero, then * scale), each computed in float32 (the caller rounds each to its step's dtype). CI checks
// the CPU path against hqq's goldens and the kernel against the CPU path (in emulation), so both check what the GPU
// computes. Torch-free and CUDA-free (nvcc sees the markers).
#include <cstdint>

#if defined(__CUDACC__)
#define OFT_HQQ_HD __host__ __device__
#else
#define OFT_HQQ_HD
#endif

namespace oft::hqq::math {

// Codes per packed element for codes of `bits` bits: ten 3-bit codes in an int32 ("3bit_32"), else 8 / bits in a
// byte ("8bit_u8", "4bit_u8", "2bit_u8", "1bit_u8").
OFT_HQQ_HD inline int64_t planes_for_bits(int bits) { return bits == 3 ? 10 : 8 / bits; }
// Packed rows for `rows` code rows (3 bits: the rows padded to a multiple of 10; the byte packings need whole planes).
OFT_HQQ_HD inline int64_t packed_rows(int64_t rows, int64_t planes) { return (rows + planes - 1) / planes; }

// Plane p of `planes` holds its codes in bits [shift, shift + bits) of each packed element: the first plane in the
// most significant bits.
OFT_HQQ_HD inline uint32_t plane_shift(int64_t plane, int64_t planes, uint32_t bits) {
  return bits * static_cast<uint32_t>(planes - 1 - plane);
}

// Code row r is packed row r - p * packed_rows of plane p = r / packed_rows, at that plane's shift.
struct CodePlace {
  int64_t packed_row;
  uint32_t shift;
};
OFT_HQQ_HD inline CodePlace code_place(int64_t row, int64_t packed_rows, int64_t planes, uint32_t bits) {
  const int64_t plane = row / packed_rows;
  return {row - plane * packed_rows, plane_shift(plane, planes, bits)};
}

OFT_HQQ_HD inline uint32_t code_mask(uint32_t bits) { return (uint32_t{1} << bits) - 1; }
// The code at `shift` of a packed element (a byte, or an int32's bits).
OFT_HQQ_HD inline uint32_t code_in(uint32_t element, uint32_t shift, uint32_t mask) {
  return (element >> shift) & mask;
}

// hqq's first step in float32, before its rounding to the difference dtype: code - zero.
OFT_HQQ_HD inline float code_minus_zero(uint32_t code, float zero) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(static_cast<float>(code), zero);
#else
  // Through int32 (codes are below 2^8): x86's SIMD converts signed integers only, so CPU loops may vectorize.
  return static_cast<float>(static_cast<int32_t>(code)) - zero;
#endif
}

// hqq's second step in float32, before its rounding to the product dtype: the rounded difference times scale (never
// contracted into an FMA on the GPU).
OFT_HQQ_HD inline float times_scale(float difference, float scale) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(difference, scale);
#else
  return difference * scale;
#endif
}

}  // namespace oft::hqq::math
