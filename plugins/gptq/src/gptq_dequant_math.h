#pragma once
// The arithmetic of GPTQ dequantization, one definition for the CPU path (gptq_dequant_cpu.cpp) and the CUDA
// kernel (cuda/gptq_kernels.cu): where input k's code sits in the packed words, its extraction (3-bit codes
// may continue in the next word), and (code - zero) * scale. CI checks the CPU path against GPTQModel's
// goldens, so it checks what the GPU computes. Torch-free and CUDA-free (nvcc sees the markers).
#include <cstdint>

#if defined(__CUDACC__)
#define OFT_GPTQ_HD __host__ __device__
#else
#define OFT_GPTQ_HD
#endif

namespace oft::gptq::math {

// Input k is field k % 32 of its run of 32 values, which occupies `bits` words (one bit stream): its code
// starts at bit `shift` of packed row `row` and continues in row + 1 when shift + bits > 32.
struct FieldPosition {
  int64_t row;
  uint32_t shift;
};
OFT_GPTQ_HD inline FieldPosition field_position(int64_t k, int bits) {
  const int64_t offset = int64_t{bits} * (k % 32);
  return {(k / 32) * bits + offset / 32, static_cast<uint32_t>(offset % 32)};
}

OFT_GPTQ_HD inline bool straddles(uint32_t shift, int bits) { return shift + static_cast<uint32_t>(bits) > 32; }
OFT_GPTQ_HD inline uint32_t code_mask(int bits) { return (uint32_t{1} << bits) - 1; }

// The code from its word (lo) and, for a field that straddles, the next word (hi).
OFT_GPTQ_HD inline uint32_t code_in_word(uint32_t lo, uint32_t shift, uint32_t mask) { return (lo >> shift) & mask; }
OFT_GPTQ_HD inline uint32_t code_across_words(uint32_t lo, uint32_t hi, uint32_t shift, uint32_t mask) {
  return ((lo >> shift) | (hi << (32 - shift))) & mask;
}

// (code - zero) * scale, each step rounded once in float32 (never contracted into an FMA on the GPU); exact
// for fp16/bf16 scales, as the difference is a small integer.
OFT_GPTQ_HD inline float dequantize_value(uint32_t code, float zero, float scale) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(__fsub_rn(static_cast<float>(code), zero), scale);
#else
  // Through int32 (codes are below 2^8): x86's SIMD converts signed integers only, so this is what lets
  // the CPU loops vectorize.
  return (static_cast<float>(static_cast<int32_t>(code)) - zero) * scale;
#endif
}

}  // namespace oft::gptq::math
