// The CPU dequantization of both layouts on both paths (x86's eight lanes with the rounding in registers at 4 bits,
// and the portable one), whole and as a tile (gemm: 16 columns from column 8; gemv: 7 rows from row 5), against
// (code - zero) * scale in LibTorch ops rounded to the scales dtype, for each bit width or group size and scales
// dtype.
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "awq_dequant_cpu.h"
#include "awq_packing.h"

namespace oft::awq::test {
namespace {

TEST(AwqDequantPaths, BothPathsGiveTheLibrarysValues) {
  const int64_t in = 96, out = 40, group_size = 32, groups = in / group_size;
  for (const int bits : {2, 3, 4, 8}) {
    at::manual_seed(bits);
    const at::Tensor codes = at::randint(0, 1 << bits, {in, out}, at::kLong);
    const at::Tensor qweight = pack_gemm(codes, bits).contiguous();
    const at::Tensor zeros = at::randint(0, 1 << bits, {groups, out}).to(at::kFloat);
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      at::Tensor scales = at::rand({groups, out}) * 0.1;
      scales[1][5] = 1e-7;  // fp16 subnormal values
      const at::Tensor s = scales.to(dtype).to(at::kFloat);
      const at::Tensor g = at::div(at::arange(in), group_size, "floor");
      const at::Tensor expected =
          ((codes.to(at::kFloat) - zeros.index_select(0, g)) * s.index_select(0, g)).to(dtype).to(at::kFloat);
      for (const sdk::RoundingPath path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
        SCOPED_TRACE(std::to_string(bits) + " bits, " + c10::toString(dtype) +
                     (path == sdk::RoundingPath::kPortable ? ", portable" : ", fastest"));
        EXPECT_TRUE(at::equal(dequantize_gemm_cpu(qweight, zeros, s, bits, group_size, dtype, path), expected));
        const at::Tensor tile = at::empty({in, 16});
        dequantize_gemm_cpu_columns(qweight, zeros, s, bits, group_size, dtype, 8, tile, path);
        EXPECT_TRUE(at::equal(tile, expected.narrow(1, 8, 16)));
      }
    }
  }
}

TEST(AwqDequantPaths, BothPathsGiveTheLibrarysValuesInTheGemvLayout) {
  const int64_t in = 96, out = 20;
  for (const int64_t group_size : {32, 12, 40}) {  // 12: groups split words (portable only); 40: a short last group
    const int64_t groups = (in + group_size - 1) / group_size;
    at::manual_seed(group_size);
    const at::Tensor codes = at::randint(0, 16, {out, in}, at::kLong);
    const at::Tensor qweight = pack_sequential4(codes).contiguous();
    const at::Tensor zeros = at::randint(0, 16, {out, groups}).to(at::kFloat);
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      at::Tensor scales = at::rand({out, groups}) * 0.1;
      scales[3][1] = 1e-7;  // fp16 subnormal values
      const at::Tensor s = scales.to(dtype).to(at::kFloat);
      const at::Tensor g = at::div(at::arange(in), group_size, "floor");
      const at::Tensor expected =
          ((codes.to(at::kFloat) - zeros.index_select(1, g)) * s.index_select(1, g)).to(dtype).to(at::kFloat);
      for (const sdk::RoundingPath path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
        SCOPED_TRACE("group size " + std::to_string(group_size) + ", " + c10::toString(dtype) +
                     (path == sdk::RoundingPath::kPortable ? ", portable" : ", fastest"));
        EXPECT_TRUE(at::equal(dequantize_gemv_cpu(qweight, zeros, s, group_size, dtype, path), expected));
        const at::Tensor tile = at::empty({7, in});
        dequantize_gemv_cpu_rows(qweight, zeros, s, group_size, dtype, 5, tile, path);
        EXPECT_TRUE(at::equal(tile, expected.narrow(0, 5, 7)));
      }
    }
  }
}

}  // namespace
}  // namespace oft::awq::test
