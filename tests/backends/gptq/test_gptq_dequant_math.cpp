// The bit-stream arithmetic the CUDA kernel shares with the CPU path (gptq_dequant_math.h), checked on the CPU
// against the independent packer: every input's code is found where pack_rows put it, for each bit width
// (3 bits: fields 10 and 21 of each run continue in the next word). Then the CPU dequantization built on it.
#include <cstdint>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "gptq_dequant_cpu.h"
#include "gptq_dequant_math.h"
#include "gptq_packing.h"

namespace oft::gptq::test {
namespace {

TEST(GptqDequantMath, FieldPositionsFindThePackedCodes) {
  at::manual_seed(5);
  for (int bits : {2, 3, 4, 8}) {
    const int64_t in = 96, out = 8;
    const at::Tensor codes = at::randint(0, 1 << bits, {in, out}, at::kInt);
    const at::Tensor packed = pack_rows(codes, bits).contiguous();
    const uint32_t* words = reinterpret_cast<const uint32_t*>(packed.data_ptr<int32_t>());
    const int32_t* want = codes.data_ptr<int32_t>();
    const uint32_t mask = math::code_mask(bits);
    int64_t straddling = 0;
    for (int64_t k = 0; k < in; ++k)
      for (int64_t n = 0; n < out; ++n) {
        const math::FieldPosition pos = math::field_position(k, bits);
        const uint32_t lo = words[pos.row * out + n];
        uint32_t code = 0;
        if (math::straddles(pos.shift, bits)) {
          ++straddling;
          code = math::code_across_words(lo, words[(pos.row + 1) * out + n], pos.shift, mask);
        } else {
          code = math::code_in_word(lo, pos.shift, mask);
        }
        ASSERT_EQ(code, static_cast<uint32_t>(want[k * out + n])) << bits << " bits, k " << k << ", n " << n;
      }
    EXPECT_EQ(straddling, bits == 3 ? 2 * (in / 32) * out : 0) << bits << " bits";
  }
}

TEST(GptqDequantMath, ValueIsCodeMinusZeroTimesScale) {
  EXPECT_EQ(math::dequantize_value(11, 8.0f, 0.5f), 1.5f);
  EXPECT_EQ(math::dequantize_value(0, 3.0f, 0.25f), -0.75f);
}

// The CPU dequantization on both paths (x86's eight lanes with the rounding in registers, and the portable
// one), whole and as a tile of 21 columns from column 5, against (code - zero[g]) * scale[g] in LibTorch ops
// rounded to the scales dtype, for every bit width (3 bits: fields across words) and scales dtype.
TEST(GptqDequantMath, CpuPathsGiveTheLibrarysValues) {
  const int64_t in = 96, n_out = 37, groups = 3;
  for (const int bits : {2, 3, 4, 8}) {
    at::manual_seed(bits);
    const at::Tensor codes = at::randint(0, 1 << bits, {in, n_out}, at::kInt);
    const at::Tensor qweight = pack_rows(codes, bits).contiguous();
    const at::Tensor zeros = at::randint(0, 1 << bits, {groups, n_out}).to(at::kFloat);
    const at::Tensor g_idx = at::randint(0, groups, {in}, at::kInt);  // act order
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      at::Tensor scales = at::rand({groups, n_out}) * 0.1;
      scales[0][3] = 1e-7;  // fp16 subnormal values
      const at::Tensor s = scales.to(dtype).to(at::kFloat);
      const at::Tensor g = g_idx.to(at::kLong);
      const at::Tensor expected =
          ((codes.to(at::kFloat) - zeros.index_select(0, g)) * s.index_select(0, g)).to(dtype).to(at::kFloat);
      for (const sdk::RoundingPath path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
        SCOPED_TRACE(std::to_string(bits) + " bits, " + c10::toString(dtype) +
                     (path == sdk::RoundingPath::kPortable ? ", portable" : ", fastest"));
        EXPECT_TRUE(at::equal(dequantize_cpu(qweight, zeros, s, g_idx, bits, dtype, path), expected));
        const at::Tensor tile = at::empty({in, 21});
        dequantize_cpu_columns(qweight, zeros, s, g_idx, bits, dtype, 5, tile, path);
        EXPECT_TRUE(at::equal(tile, expected.narrow(1, 5, 21)));
      }
    }
  }
}

}  // namespace
}  // namespace oft::gptq::test
