#pragma once
// The arithmetic of AQLM dequantization, one definition for the CPU path (aqlm_dequant_rows.cpp: the code lookup and
// the bf16 rounding, in its SIMD lanes and its scalar tail) and the CUDA kernel (cuda/aqlm_kernels.cuh): a stored
// code read mod 2^B, where its codeword's value sits in the codebooks, the fp32 sum codebook by codebook from 0,
// aqlm's CPU embedding_bag rounding of that sum to bf16 (half an ulp added to the bit pattern, the low 16 bits
// dropped: ties away from zero), and the product with the scale in fp32. CI checks the CPU path against aqlm's
// goldens and the kernel against the CPU path (in emulation). Torch-free and CUDA-free (nvcc sees the markers).
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define OFT_AQLM_HD __host__ __device__
#else
#define OFT_AQLM_HD
#endif

namespace oft::aqlm::math {

OFT_AQLM_HD inline uint32_t code_mask(int64_t nbits) { return (uint32_t{1} << nbits) - 1; }
// A code as aqlm stores it (int8/int16, codes of 2^(B-1) and above negative), read through its unsigned bits, mod 2^B.
OFT_AQLM_HD inline uint32_t code_of(uint32_t stored, uint32_t mask) { return stored & mask; }

// The index in the codebooks [C, 2^B, og, ig] of value (j, i) (row_offset = j * ig + i) of codebook c's codeword
// `code`: book_size = 2^B * og * ig, entry = og * ig.
OFT_AQLM_HD inline int64_t codeword_index(int64_t c, uint32_t code, int64_t book_size, int64_t entry,
                                          int64_t row_offset) {
  return c * book_size + int64_t{code} * entry + row_offset;
}

// The codeword sum's next addition in fp32 (round to nearest even; the sum starts from 0 and adds codebook 0 first).
OFT_AQLM_HD inline float add_codeword(float sum, float value) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(sum, value);
#else
  return sum + value;
#endif
}

// aqlm's CPU embedding_bag rounding of an fp32 sum to bf16 on its bit pattern: add half a bf16 ulp to the
// magnitude's bits and drop the low 16 (ties away from zero). Bits: uint32_t, or sdk::simd4::Words (four lanes).
template <typename Bits>
OFT_AQLM_HD inline Bits bf16_rounded_bits(Bits bits) {
  return (bits + 0x8000u) & 0xFFFF0000u;
}
OFT_AQLM_HD inline float round_sum_to_bf16(float sum) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bf16_rounded_bits(__float_as_uint(sum)));
#else
  uint32_t bits;
  std::memcpy(&bits, &sum, sizeof bits);
  bits = bf16_rounded_bits(bits);
  std::memcpy(&sum, &bits, sizeof bits);
  return sum;
#endif
}

// The rounded sum times the output group's scale in fp32 (never contracted into an FMA on the GPU); the caller rounds
// it once more to the codebooks' dtype (to nearest even).
OFT_AQLM_HD inline float times_scale(float sum, float scale) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(sum, scale);
#else
  return sum * scale;
#endif
}

}  // namespace oft::aqlm::math
