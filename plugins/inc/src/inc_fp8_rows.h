#pragma once
// One row of FP8 codes dequantized: hp(fp32(code) * scale), as float. Two ways that give the same bits: a
// 256-entry table of the codes' values on any CPU, and on x86 CPUs with AVX2 and F16C eight codes at a time
// through fp16 (an E5M2 byte is the upper half of an fp16; E4M3 moves into fp16's wider exponent) with the
// scale and the rounding applied in registers.
#include <array>
#include <cstdint>

#include <c10/core/ScalarType.h>

namespace oft::inc {

enum class Fp8RowPath {
  kFastest,  // the eight-lane path where the CPU has AVX2 and F16C
  kTable,    // the table lookup on every CPU (what kFastest falls back to)
};

struct Fp8Rows {
  c10::ScalarType fp8;       // kFloat8_e4m3fn or kFloat8_e5m2
  c10::ScalarType round_to;  // the scale's dtype: kFloat, kHalf or kBFloat16
  Fp8RowPath path = Fp8RowPath::kFastest;
};

// out[n] = round_to(value(codes[n]) * scales[n]) for n in [0, count).
void dequantize_fp8_row(const uint8_t* codes, const float* scales, int64_t count, const Fp8Rows& how, float* out);

// Every FP8 byte's float value (LibTorch's conversion), the table both paths agree with.
const std::array<float, 256>& fp8_values(c10::ScalarType fp8);

}  // namespace oft::inc
