#pragma once
// The arithmetic of AWQ dequantization, one definition for the CPU path's scalar loops (awq_dequant_cpu.cpp) and
// the CUDA kernels (cuda/awq_kernels.cuh): where a value's code sits in the packed words of each layout
// (awq_packing.h), its extraction (3-bit codes may continue in the next word), and (code - zero) * scale in fp32.
// CI checks the CPU path against GPTQModel's goldens and the kernels against the CPU path (in emulation), so
// both check what the GPU computes. Torch-free and CUDA-free (nvcc sees the markers).
#include <cstdint>

#if defined(__CUDACC__)
#define OFT_AWQ_HD __host__ __device__
#else
#define OFT_AWQ_HD
#endif

namespace oft::awq::math {

// Packed words per row for `columns` gemm-packed values of `bits` bits.
OFT_AWQ_HD inline int64_t gemm_words(int64_t columns, int bits) { return (columns * bits + 31) / 32; }

// A code's place in a row of packed words: it starts at bit `shift` of word `word` and continues in word + 1
// when shift + bits > 32.
struct FieldPosition {
  int64_t word;
  uint32_t shift;
};

// gemm packing (along the outputs), column n of a row. 2, 3 and 8 bits: bit bits * n of the row's little-endian
// bit stream.
OFT_AWQ_HD inline FieldPosition bit_stream_field(int64_t n, int bits) {
  const int64_t bit = int64_t{bits} * n;
  return {bit / 32, static_cast<uint32_t>(bit % 32)};
}
// 4 bits: word n / 8, nibble {0, 4, 1, 5, 2, 6, 3, 7}[n % 8] (AWQ's interleave ORDER = [0, 2, 4, 6, 1, 3, 5, 7]:
// nibble i holds column ORDER[i], so the even columns are nibbles 0-3 and the odd ones 4-7).
OFT_AWQ_HD inline FieldPosition interleaved4_field(int64_t n) {
  const uint32_t j = static_cast<uint32_t>(n % 8);
  return {n / 8, 16 * (j % 2) + 4 * (j / 2)};
}
// Either, by width. (The CPU's loops call the one they need: a test of `bits` per value costs them a fifth.)
OFT_AWQ_HD inline FieldPosition gemm_field(int64_t n, int bits) {
  return bits == 4 ? interleaved4_field(n) : bit_stream_field(n, bits);
}

// gemv packing (4 bits, sequential along the inputs; also its qzeros along the groups): value k is nibble k % 8
// of word k / 8.
OFT_AWQ_HD inline FieldPosition sequential4_field(int64_t k) { return {k / 8, static_cast<uint32_t>(4 * (k % 8))}; }

// Only a width that does not divide 32 (3 bits) has fields across two words; testing that first lets a CPU loop
// over 2-, 4- or 8-bit fields drop the test (the compiler hoists it).
OFT_AWQ_HD inline bool straddles(uint32_t shift, int bits) {
  return (bits & (bits - 1)) != 0 && shift + static_cast<uint32_t>(bits) > 32;
}
OFT_AWQ_HD inline uint32_t code_mask(int bits) { return (uint32_t{1} << bits) - 1; }

// The code at `at` in `row`; the next word is read only for a field that straddles (3 bits).
OFT_AWQ_HD inline uint32_t code_at(const uint32_t* row, FieldPosition at, int bits) {
  uint32_t code = row[at.word] >> at.shift;
  if (straddles(at.shift, bits)) code |= row[at.word + 1] << (32 - at.shift);
  return code & code_mask(bits);
}

// (code - zero) * scale, each step rounded once in float32 (never contracted into an FMA on the GPU): the
// difference of two codes is exact, so for fp16/bf16 scales the product is too, and one rounding to the scales
// dtype afterwards gives the library's value.
OFT_AWQ_HD inline float dequantize_value(uint32_t code, float zero, float scale) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(__fsub_rn(static_cast<float>(code), zero), scale);
#else
  // Through int32 (codes are below 2^8): x86's SIMD converts signed integers only, so the CPU loops may vectorize.
  return (static_cast<float>(static_cast<int32_t>(code)) - zero) * scale;
#endif
}

}  // namespace oft::awq::math
