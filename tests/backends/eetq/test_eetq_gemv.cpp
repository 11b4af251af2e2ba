// The one-token product straight from the int8 codes (eetq_gemv_cpu.h) against x · W^T with W^T from the CPU
// dequantization (EETQ's rounded values), for every scales dtype, on each x86 path (eight lanes, and sixteen where the
// CPU has AVX-512F: the same bits); where it applies; and the forward takes it for exactly one token.
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "eetq_gemv_cpu.h"
#include "eetq_linear.h"
#include "eetq_quantizer.h"
#include "test_support.h"

namespace oft::eetq::test {
namespace {

constexpr int64_t kIn = 256, kOut = 2 * kGemvColumns;  // two passes of outputs

bool cpu_takes_it() { return gemv_applies(1, kOut, at::kFloat); }

TEST(EetqGemv, EqualsTheProductWithTheDequantizedWeight) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(21);
  const at::Tensor codes = at::randint(-128, 128, {kIn, kOut}).to(at::kChar);
  for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    const at::Tensor scales = (at::rand({kOut}) * 0.01).to(dtype);
    const at::Tensor x = at::randn({kIn});
    // Against sums in double: fp32 ones depend on the CPU's GEMV kernel.
    const at::Tensor w_t = dequantize_float_kn(codes, scales);
    const at::Tensor eight = gemv_cpu(x, codes, scales, sdk::ProductLanes::kEight);
    EXPECT_TRUE(oft::test::close(eight, at::mv(w_t.t().to(at::kDouble), x.to(at::kDouble)).to(at::kFloat), 1e-5,
                                 "one-token product vs x · dequantized W^T"));
    if (sdk::takes_16_lanes(sdk::ProductLanes::kWidest)) {
      EXPECT_TRUE(at::equal(gemv_cpu(x, codes, scales, sdk::ProductLanes::kWidest), eight)) << "16 lanes vs 8";
    }
  }
}

TEST(EetqGemv, SixteenLanesGiveTheEightLanesBitsInPassesOfEveryWidth) {
  if (!cpu_takes_it() || !sdk::takes_16_lanes(sdk::ProductLanes::kWidest))
    GTEST_SKIP() << "this CPU lacks AVX-512F: the sixteen-lane product does not run here";
  at::manual_seed(23);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  for (const int64_t out : {int64_t{192}, int64_t{384}, int64_t{512}}) {  // passes of 64, 128 and 256 outputs
    SCOPED_TRACE(std::to_string(out) + " outputs in passes of " + std::to_string(sdk::wide_pass_columns(out)));
    const at::Tensor codes = at::randint(-128, 128, {kIn, out}).to(at::kChar);
    const at::Tensor scales = (at::rand({out}) * 0.01).to(at::kHalf);
    const at::Tensor x = at::randn({kIn});
    EXPECT_TRUE(at::equal(gemv_cpu(x, codes, scales, sdk::ProductLanes::kWidest),
                          gemv_cpu(x, codes, scales, sdk::ProductLanes::kEight)));
  }
  at::set_num_threads(threads);
}

TEST(EetqGemv, AppliesToOneTokenOfWholePassesOnly) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  EXPECT_TRUE(gemv_applies(1, kOut, at::kHalf));
  EXPECT_FALSE(gemv_applies(2, kOut, at::kHalf));      // two tokens: the tiled forward
  EXPECT_FALSE(gemv_applies(1, kOut + 8, at::kHalf));  // not whole passes of outputs
}

TEST(EetqGemv, ForwardTakesItForExactlyOneToken) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(22);
  c10::NoGradGuard no_grad;
  const QuantizedWeight q = quantize_per_channel(at::randn({kOut, kIn}), at::kHalf);
  const at::Tensor bias = at::randn({kOut}).to(at::kHalf);
  EetqLinear layer(q.codes, q.scales, bias, sdk::LinearShape{kIn, kOut, true});
  const at::Tensor x = at::randn({1, 1, kIn}).to(at::kHalf);
  const at::Tensor one = gemv_cpu(x.reshape(-1).to(at::kFloat), layer.codes(), layer.weight_scales());
  EXPECT_TRUE(at::equal(layer.forward(x), (one + bias.to(at::kFloat)).to(at::kHalf).view({1, 1, kOut})));
  // Two tokens: the tiled forward, the same values within its summation order.
  const at::Tensor two = at::cat({x.view({1, kIn}), at::randn({1, kIn}).to(at::kHalf)});
  EXPECT_TRUE(oft::test::close(layer.forward(two)[0].to(at::kFloat), layer.forward(x).view(-1).to(at::kFloat), 2e-3,
                               "row 0 of two tokens vs one token"));
}

}  // namespace
}  // namespace oft::eetq::test
