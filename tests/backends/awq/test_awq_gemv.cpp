// The one-token products straight from the 4-bit words of both layouts (awq_gemv_cpu.h) against x · W^T with W from
// the CPU dequantization (the library's rounded values), for every scales dtype; where they apply; and the forward
// takes them for exactly one token.
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "awq_dequant_cpu.h"
#include "awq_format.h"
#include "awq_gemv_cpu.h"
#include "awq_packing.h"
#include "awq_quantizer.h"
#include "test_support.h"

namespace oft::awq::test {
namespace {

constexpr int64_t kIn = 256, kOut = 2 * kGemvColumns;  // two passes of outputs

bool cpu_takes_it() { return gemv_applies(1, 4, kOut, at::kFloat); }

// W · x summed in double: a reference that does not depend on the CPU's fp32 GEMV kernel.
at::Tensor reference(const at::Tensor& w, const at::Tensor& x) {
  return at::mv(w.to(at::kDouble), x.to(at::kDouble)).to(at::kFloat);
}

TEST(AwqGemv, EqualsTheProductWithTheDequantizedWeight) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  const int64_t group_size = 64, groups = kIn / group_size;
  at::manual_seed(11);
  const at::Tensor codes = at::randint(0, 16, {kIn, kOut}, at::kLong);
  const at::Tensor qweight = pack_gemm(codes, 4).contiguous();
  const at::Tensor zeros = at::randint(0, 16, {groups, kOut}).to(at::kFloat);
  for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    const at::Tensor scales = (at::rand({groups, kOut}) * 0.1).to(dtype).to(at::kFloat);
    const at::Tensor x = at::randn({kIn});
    const at::Tensor w_t = dequantize_gemm_cpu(qweight, zeros, scales, 4, group_size, dtype);
    const at::Tensor eight = gemv_gemm4_cpu(x, qweight, zeros, scales, group_size, dtype, sdk::ProductLanes::kEight);
    EXPECT_TRUE(oft::test::close(eight, reference(w_t.t(), x), 1e-5, "one-token product vs x · dequantized W^T"));
    if (sdk::takes_16_lanes(sdk::ProductLanes::kWidest)) {
      EXPECT_TRUE(
          at::equal(gemv_gemm4_cpu(x, qweight, zeros, scales, group_size, dtype, sdk::ProductLanes::kWidest), eight))
          << "16 lanes vs 8";
    }
  }
}

TEST(AwqGemv, SixteenLanesGiveTheEightLanesBitsInPassesOfEveryWidth) {
  if (!cpu_takes_it() || !sdk::takes_16_lanes(sdk::ProductLanes::kWidest))
    GTEST_SKIP() << "this CPU lacks AVX-512F: the sixteen-lane product does not run here";
  at::manual_seed(12);
  const int64_t group_size = 128, groups = kIn / group_size;
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  for (const int64_t out : {int64_t{192}, int64_t{384}, int64_t{512}}) {  // passes of 64, 128 and 256 outputs
    SCOPED_TRACE(std::to_string(out) + " outputs in passes of " + std::to_string(sdk::wide_pass_columns(out)));
    const at::Tensor qweight = pack_gemm(at::randint(0, 16, {kIn, out}, at::kLong), 4).contiguous();
    const at::Tensor zeros = at::randint(0, 16, {groups, out}).to(at::kFloat);
    const at::Tensor scales = (at::rand({groups, out}) * 0.1).to(at::kHalf).to(at::kFloat);
    const at::Tensor x = at::randn({kIn});
    EXPECT_TRUE(at::equal(gemv_gemm4_cpu(x, qweight, zeros, scales, group_size, at::kHalf, sdk::ProductLanes::kWidest),
                          gemv_gemm4_cpu(x, qweight, zeros, scales, group_size, at::kHalf, sdk::ProductLanes::kEight)));
  }
  at::set_num_threads(threads);
}

TEST(AwqGemv, GemvLayoutEqualsTheProductWithTheDequantizedWeight) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  const int64_t out = 12;                                             // three passes of rows
  for (const int64_t group_size : {int64_t{32}, int64_t{96}, kIn}) {  // 96: the last group is shorter
    const int64_t groups = (kIn + group_size - 1) / group_size;
    at::manual_seed(group_size);
    const at::Tensor qweight = pack_sequential4(at::randint(0, 16, {out, kIn}, at::kLong)).contiguous();
    const at::Tensor zeros = at::randint(0, 16, {out, groups}).to(at::kFloat);
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE("group size " + std::to_string(group_size) + ", " + c10::toString(dtype));
      const at::Tensor scales = (at::rand({out, groups}) * 0.1).to(dtype).to(at::kFloat);
      const at::Tensor x = at::randn({kIn});
      const at::Tensor w = dequantize_gemv_cpu(qweight, zeros, scales, group_size, dtype);
      EXPECT_TRUE(oft::test::close(gemv_sequential4_cpu(x, qweight, zeros, scales, group_size, dtype), reference(w, x),
                                   1e-5, "one-token product vs x · dequantized W^T"));
    }
  }
  EXPECT_TRUE(gemv_layout_applies(1, out, 32, at::kHalf));
  EXPECT_FALSE(gemv_layout_applies(2, out, 32, at::kHalf));      // two tokens: the tiled forward
  EXPECT_FALSE(gemv_layout_applies(1, out + 2, 32, at::kHalf));  // not whole passes of rows
  EXPECT_FALSE(gemv_layout_applies(1, out, 36, at::kHalf));      // groups that split a word
}

TEST(AwqGemv, AppliesToOneTokenOfWholePassesAt4BitsOnly) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  EXPECT_TRUE(gemv_applies(1, 4, kOut, at::kBFloat16));
  EXPECT_FALSE(gemv_applies(2, 4, kOut, at::kFloat));      // two tokens: the tiled forward
  EXPECT_FALSE(gemv_applies(1, 8, kOut, at::kFloat));      // other bit widths: the tiled forward
  EXPECT_FALSE(gemv_applies(1, 4, kOut + 8, at::kFloat));  // not whole passes of outputs
}

TEST(AwqGemv, ForwardTakesItForExactlyOneToken) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(12);
  c10::NoGradGuard no_grad;
  AwqConfig config;
  config.group_size = 64;
  const at::Tensor bias = at::randn({kOut}).to(at::kHalf);
  auto layer = make_layer(quantize_rtn(at::randn({kOut, kIn}).to(at::kHalf), config, at::kHalf), bias, config);
  const at::Tensor x = at::randn({1, 1, kIn}).to(at::kHalf);
  const at::Tensor one =
      gemv_gemm4_cpu(x.reshape(-1).to(at::kFloat), layer->qweight(), layer->zeros().to(at::kFloat).contiguous(),
                     layer->scales().to(at::kFloat).contiguous(), 64, at::kHalf);
  EXPECT_TRUE(at::equal(layer->forward(x), (one + bias.to(at::kFloat)).to(at::kHalf).view({1, 1, kOut})));
  // Two tokens: the tiled forward, the same values within its summation order.
  const at::Tensor two = at::cat({x.view({1, kIn}), at::randn({1, kIn}).to(at::kHalf)});
  EXPECT_TRUE(oft::test::close(layer->forward(two)[0].to(at::kFloat), layer->forward(x).view(-1).to(at::kFloat), 2e-3,
                               "row 0 of two tokens vs one token"));
}

TEST(AwqGemv, GemvLayoutForwardTakesItForExactlyOneToken) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(13);
  c10::NoGradGuard no_grad;
  AwqConfig config;
  config.group_size = 64;
  config.layout = Layout::Gemv;
  const at::Tensor bias = at::randn({kOut}).to(at::kHalf);
  auto layer = make_layer(quantize_rtn(at::randn({kOut, kIn}).to(at::kHalf), config, at::kHalf), bias, config);
  const at::Tensor zeros = layer->zeros().t().to(at::kFloat).contiguous();  // (out, groups) for the gemv layout
  const at::Tensor scales = layer->scales().narrow(1, 0, kIn / 64).to(at::kFloat).contiguous();
  const at::Tensor x = at::randn({1, kIn}).to(at::kHalf);
  const at::Tensor one =
      gemv_sequential4_cpu(x.reshape(-1).to(at::kFloat), layer->qweight(), zeros, scales, 64, at::kHalf);
  EXPECT_TRUE(at::equal(layer->forward(x), (one + bias.to(at::kFloat)).to(at::kHalf).view({1, kOut})));
  const at::Tensor two = at::cat({x, at::randn({1, kIn}).to(at::kHalf)});
  EXPECT_TRUE(oft::test::close(layer->forward(two)[0].to(at::kFloat), layer->forward(x).view(-1).to(at::kFloat), 2e-3,
                               "row 0 of two tokens vs one token"));
}

}  // namespace
}  // namespace oft::awq::test
