#pragma once
// The arithmetic of bitsandbytes' dequantization, one definition for the CPU path (blockwise.cpp, codes.cpp)
// and the CUDA kernels (cuda/bnb_kernels.cu): 4-bit code -> table value, nibble order, absmax scaling, the
// nested absmax, LLM.int8's row scale. CI runs the CPU path against bitsandbytes' goldens, so it checks the
// arithmetic the GPU runs. Torch-free and CUDA-free (nvcc sees the __host__ __device__ markers).
#include <cstdint>

#if defined(__CUDACC__)
#define OFT_BNB_HD __host__ __device__
#else
#define OFT_BNB_HD
#endif

namespace oft::bnb::math {

// Nested (double) quantization quantizes the per-block absmax in blocks of this many.
inline constexpr int64_t kNestedBlocksize = 256;

// a * b and a + b, each rounded once to float32. nvcc contracts a * b + c into an FMA by default, which
// would change the last bit against the CPU (and bitsandbytes); the _rn intrinsics are never contracted.
OFT_BNB_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

OFT_BNB_HD inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// NF4: quantiles of N(0, 1) normalised to [-1, 1], as bitsandbytes hard-codes them (float32).
OFT_BNB_HD inline float nf4_value(uint32_t code) {
  constexpr float kNf4[16] = {-1.0f,           -0x1.647362p-1f, -0x1.0cd660p-1f, -0x1.946540p-2f,
                              -0x1.23449ap-2f, -0x1.7a6a7ep-3f, -0x1.74f0e2p-4f, 0.0f,
                              0x1.45f5fep-4f,  0x1.4995c6p-3f,  0x1.f809bap-3f,  0x1.5a0674p-2f,
                              0x1.c34970p-2f,  0x1.200f56p-1f,  0x1.722766p-1f,  1.0f};
  return kNf4[code & 15];
}

// FP4 (bitsandbytes' own E2M1 variant): bit 3 is the sign, bits 2..0 pick a magnitude out of 12, divided by
// 12 in float32 as bnb normalises its table. Code 8 decodes to -0.0, as bnb's CPU and CUDA kernels give.
OFT_BNB_HD inline float fp4_value(uint32_t code) {
  constexpr float kMagnitude[8] = {0.0f, 0.0625f, 8.0f, 12.0f, 4.0f, 6.0f, 2.0f, 3.0f};
  const float m = kMagnitude[code & 7] / 12.0f;  // correctly rounded on both sides (nvcc: -prec-div=true)
  return (code & 8) ? -m : m;
}

OFT_BNB_HD inline float code_value(bool nf4, uint32_t code) { return nf4 ? nf4_value(code) : fp4_value(code); }

// Codes 2i and 2i+1 share byte i, 2i in the high nibble.
OFT_BNB_HD inline uint32_t high_code(uint32_t byte) { return (byte >> 4) & 15; }
OFT_BNB_HD inline uint32_t low_code(uint32_t byte) { return byte & 15; }
OFT_BNB_HD inline uint32_t code_at(const uint8_t* packed, int64_t element) {
  const uint32_t byte = packed[element >> 1];
  return (element & 1) ? low_code(byte) : high_code(byte);
}

// Byte j (0..3) of a 32-bit word loaded from the packed bytes (little-endian, as x86-64 and NVIDIA GPUs are).
OFT_BNB_HD inline uint32_t byte_of(uint32_t word, int j) { return (word >> (8 * j)) & 0xFF; }

// One weight: table value times its block's absmax, one float32 rounding (then one cast to the output dtype).
OFT_BNB_HD inline float dequantize_4bit_value(float table_value, float absmax) { return mul_rn(table_value, absmax); }

// A nested absmax: map[code] * nested_absmax[block] + offset, two float32 roundings, as bitsandbytes does
// (the blockwise dequantization, then `absmax += offset`).
OFT_BNB_HD inline float nested_absmax_value(float map_value, float nested_absmax, float offset) {
  return add_rn(mul_rn(map_value, nested_absmax), offset);
}

// LLM.int8's weight: float32(CB) * SCB[row], then * (1/127) with 1/127 rounded to float32, two roundings as
// int8_vectorwise_dequant's two tensor multiplies.
inline constexpr float kInv127 = static_cast<float>(7.874015718698502e-3);
OFT_BNB_HD inline float dequantize_int8_value(int32_t code, float scb) {
  return mul_rn(mul_rn(static_cast<float>(code), scb), kInv127);
}

}  // namespace oft::bnb::math
