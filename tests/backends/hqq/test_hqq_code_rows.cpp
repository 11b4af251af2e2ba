// The one-pass dequantization of code rows (groups along the input) on both paths: x86's eight lanes where the CPU
// has AVX2 and F16C, and the portable one; each against hqq's steps in LibTorch ops ((codes - zero) rounded to the
// difference dtype, times the scale, rounded to the product dtype), for every packing and step dtypes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "hqq_dequant_cpu.h"
#include "hqq_packing.h"

namespace oft::hqq::test {
namespace {

struct Dtypes {
  c10::ScalarType compute, zero, scale;
};

TEST(HqqCodeRows, BothPathsGiveHqqsStepsForEveryPacking) {
  constexpr int64_t kRows = 40, kCols = 37;  // 37: the eight-lane rows end in a tail
  for (const std::string packing : {"8bit_u8", "4bit_u8", "2bit_u8", "1bit_u8", "3bit_32"}) {
    const int64_t levels = int64_t{1} << code_bits(packing);
    at::manual_seed(7);
    const at::Tensor codes = at::randint(levels, {kRows, kCols}, at::kInt);
    const at::Tensor packed = pack(codes, packing).contiguous();
    for (const Dtypes& d :
         {Dtypes{at::kHalf, at::kHalf, at::kHalf}, Dtypes{at::kBFloat16, at::kBFloat16, at::kBFloat16},
          Dtypes{at::kFloat, at::kFloat, at::kFloat}, Dtypes{at::kHalf, at::kHalf, at::kFloat}}) {
      const at::Tensor zero = (at::rand({kRows, 1}) * static_cast<double>(levels)).to(d.zero);
      at::Tensor scale = (at::rand({kRows, 1}) * 0.02 + 1e-3);
      scale[3] = 1e-6;    // fp16 subnormal products
      scale[5] = 9000.0;  // products beyond fp16's range
      scale = scale.to(d.scale);
      const StepDtypes steps = step_dtypes(d.compute, zero, scale);
      ASSERT_TRUE(code_rows_supported(steps));
      const at::Tensor difference = (codes.to(d.compute) - zero).to(steps.difference);
      const at::Tensor expected = (difference * scale).to(steps.product).to(at::kFloat);
      for (sdk::RoundingPath path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
        SCOPED_TRACE(packing + " " + c10::toString(d.compute) + "/" + c10::toString(d.zero) + "/" +
                     c10::toString(d.scale) + (path == sdk::RoundingPath::kPortable ? ", portable" : ", fastest"));
        at::Tensor out = at::empty({kRows - 2, kCols});
        dequantize_code_rows(packed, packing, 2, kRows, zero.narrow(0, 2, kRows - 2), scale.narrow(0, 2, kRows - 2),
                             steps, out, path);
        EXPECT_TRUE(at::equal(out, expected.narrow(0, 2, kRows - 2)));
      }
    }
  }
}

}  // namespace
}  // namespace oft::hqq::test
