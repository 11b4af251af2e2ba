// The arithmetic the CUDA kernels share with the CPU path (dequant_math.h), checked on the CPU: the ways the
// kernels index the packed bytes give the CPU path's values bit for bit, and LLM.int8's scalar steps equal
// the ATen expression the CPU path (and bitsandbytes) evaluates.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "blockwise.h"
#include "codes.h"
#include "dequant_math.h"
#include "int8_math.h"

namespace oft::bnb {
namespace {

TEST(BnbDequantMath, WordBytesAreThePackedBytesInOrder) {
  // The vectorized GEMV loads 16 packed bytes as four 32-bit words and takes byte j of word j / 4.
  uint8_t bytes[16];
  for (int i = 0; i < 16; ++i) bytes[i] = static_cast<uint8_t>(0x11 * i + 3);
  uint32_t words[4];
  std::memcpy(words, bytes, sizeof(bytes));
  for (int j = 0; j < 16; ++j) EXPECT_EQ(math::byte_of(words[j / 4], j % 4), bytes[j]) << "byte " << j;
}

TEST(BnbDequantMath, TablesAreBitsandbytesValues) {
  // Spot values from bitsandbytes' get_4bit_type (the golden tests compare the whole serialized maps).
  EXPECT_EQ(math::nf4_value(0), -1.0f);
  EXPECT_EQ(math::nf4_value(7), 0.0f);
  EXPECT_EQ(math::nf4_value(15), 1.0f);
  EXPECT_EQ(math::fp4_value(3), 1.0f);                                          // magnitude 12 / 12
  EXPECT_EQ(math::fp4_value(1), 0.0625f / 12);                                  // the subnormal code
  EXPECT_TRUE(std::signbit(math::fp4_value(8)) && math::fp4_value(8) == 0.0f);  // bnb decodes code 8 as -0.0
  for (uint32_t code = 0; code < 16; ++code) {
    EXPECT_EQ(math::code_value(true, code), code_table(QuantType::NF4)[code]);
    EXPECT_EQ(math::code_value(false, code), code_table(QuantType::FP4)[code]);
  }
}

TEST(BnbDequantMath, ElementwiseDecodingEqualsTheCpuDequantization) {
  // The element-wise GEMV path: element e's code by nibble, its block e / blocksize; odd counts and partial
  // last blocks included.
  at::manual_seed(3);
  for (QuantType type : {QuantType::NF4, QuantType::FP4})
    for (int64_t blocksize : {32, 64, 128, 256, 512, 1024, 2048, 4096}) {
      const int64_t out = 37, in = 75, n = out * in;
      const Packed4bit q = quantize_4bit(at::randn({out, in}), type, blocksize);
      const at::Tensor expected = dequantize_4bit(q.packed, q.absmax, type, blocksize, out, in, at::kFloat);
      const uint8_t* packed = q.packed.data_ptr<uint8_t>();
      const float* absmax = q.absmax.data_ptr<float>();
      const float* want = expected.data_ptr<float>();
      int64_t mismatches = 0;
      for (int64_t e = 0; e < n; ++e) {
        const float got = math::dequantize_4bit_value(
            math::code_value(type == QuantType::NF4, math::code_at(packed, e)), absmax[e / blocksize]);
        mismatches += std::memcmp(&got, want + e, sizeof(float)) != 0;
      }
      EXPECT_EQ(mismatches, 0) << name_of(type) << " blocksize " << blocksize;
    }
}

TEST(BnbDequantMath, Int8ValueEqualsTheAtenExpression) {
  at::manual_seed(4);
  const Int8Weight q = quantize_int8(at::randn({16, 48}) * 3);
  const at::Tensor expected = dequantize_int8(q.cb, q.scb);
  const int8_t* cb = q.cb.data_ptr<int8_t>();
  const float* scb = q.scb.data_ptr<float>();
  for (int64_t i = 0; i < q.cb.numel(); ++i) {
    const float got = math::dequantize_int8_value(cb[i], scb[i / 48]);
    ASSERT_EQ(got, expected.view({-1})[i].item<float>()) << "element " << i;
  }
}

}  // namespace
}  // namespace oft::bnb
