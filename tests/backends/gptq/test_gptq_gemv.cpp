// The one-token product straight from the packed words (gptq_gemv_cpu.h) against x · W^T with W^T from the CPU
// dequantization (the library's rounded values), for the bit widths whose fields stay within a word, every scales
// dtype and act-order group indices; where it applies; and the forward takes it for exactly one token.
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "gptq_dequant_cpu.h"
#include "gptq_format.h"
#include "gptq_gemv_cpu.h"
#include "gptq_packing.h"
#include "gptq_quantizer.h"
#include "test_support.h"

namespace oft::gptq::test {
namespace {

constexpr int64_t kIn = 256, kOut = 2 * kGemvColumns;  // two passes of outputs

bool cpu_takes_it() { return gemv_applies(1, 4, kOut, at::kFloat); }

TEST(GptqGemv, EqualsTheProductWithTheDequantizedWeight) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  const int64_t groups = 4;
  for (const int bits : {2, 3, 4, 8}) {
    at::manual_seed(bits);
    const at::Tensor codes = at::randint(0, 1 << bits, {kIn, kOut}, at::kInt);
    const at::Tensor qweight = pack_rows(codes, bits).contiguous();
    const at::Tensor zeros = at::randint(0, 1 << bits, {groups, kOut}).to(at::kFloat);
    for (const bool act_order : {false, true}) {
      const at::Tensor g_idx = act_order ? at::randint(0, groups, {kIn}, at::kInt)
                                         : at::div(at::arange(kIn), kIn / groups, "floor").to(at::kInt);
      for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
        SCOPED_TRACE(std::to_string(bits) + " bits, " + c10::toString(dtype) + (act_order ? ", act order" : ""));
        const at::Tensor scales = (at::rand({groups, kOut}) * 0.1).to(dtype).to(at::kFloat);
        const at::Tensor x = at::randn({kIn});
        const at::Tensor w_t = dequantize_cpu(qweight, zeros, scales, g_idx, bits, dtype);
        // The reference sums in double: an fp32 one depends on the CPU's GEMV kernel (AVX2 vs AVX-512 orders
        // differ by about 1e-6 here), while the product's own fp32 sums are the same on every CPU that runs it.
        const at::Tensor expected = at::mv(w_t.t().to(at::kDouble), x.to(at::kDouble)).to(at::kFloat);
        const at::Tensor eight = gemv_cpu(x, qweight, zeros, scales, g_idx, bits, dtype, sdk::ProductLanes::kEight);
        EXPECT_TRUE(oft::test::close(eight, expected, 1e-5, "one-token product vs x · dequantized W^T"));
        if (sdk::takes_16_lanes(sdk::ProductLanes::kWidest)) {
          EXPECT_TRUE(
              at::equal(gemv_cpu(x, qweight, zeros, scales, g_idx, bits, dtype, sdk::ProductLanes::kWidest), eight))
              << "16 lanes vs 8";
        }
      }
    }
  }
}

TEST(GptqGemv, SixteenLanesGiveTheEightLanesBitsInPassesOfEveryWidth) {
  if (!cpu_takes_it() || !sdk::takes_16_lanes(sdk::ProductLanes::kWidest))
    GTEST_SKIP() << "this CPU lacks AVX-512F: the sixteen-lane product does not run here";
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  for (const int bits : {3, 4})
    for (const int64_t out : {int64_t{192}, int64_t{384}, int64_t{512}}) {  // passes of 64, 128 and 256 outputs
      SCOPED_TRACE(std::to_string(bits) + " bits, " + std::to_string(out) + " outputs in passes of " +
                   std::to_string(sdk::wide_pass_columns(out)));
      at::manual_seed(bits);
      const at::Tensor qweight = pack_rows(at::randint(0, 1 << bits, {kIn, out}, at::kInt), bits).contiguous();
      const at::Tensor zeros = at::randint(0, 1 << bits, {2, out}).to(at::kFloat);
      const at::Tensor scales = (at::rand({2, out}) * 0.1).to(at::kHalf).to(at::kFloat);
      const at::Tensor g_idx = at::randint(0, 2, {kIn}, at::kInt);
      const at::Tensor x = at::randn({kIn});
      EXPECT_TRUE(at::equal(gemv_cpu(x, qweight, zeros, scales, g_idx, bits, at::kHalf, sdk::ProductLanes::kWidest),
                            gemv_cpu(x, qweight, zeros, scales, g_idx, bits, at::kHalf, sdk::ProductLanes::kEight)));
    }
  at::set_num_threads(threads);
}

TEST(GptqGemv, AppliesToOneTokenOfWholePassesOnly) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  EXPECT_TRUE(gemv_applies(1, 8, kOut, at::kBFloat16));
  EXPECT_FALSE(gemv_applies(2, 4, kOut, at::kFloat));      // two tokens: the tiled forward
  EXPECT_TRUE(gemv_applies(1, 3, kOut, at::kFloat));       // 3-bit fields that straddle words are joined
  EXPECT_FALSE(gemv_applies(1, 5, kOut, at::kFloat));      // widths GPTQ does not have
  EXPECT_FALSE(gemv_applies(1, 4, kOut + 8, at::kFloat));  // not whole passes of outputs
  EXPECT_FALSE(gemv_applies(1, 4, kOut, at::kDouble));     // scales dtypes the layer refuses anyway
}

TEST(GptqGemv, ForwardTakesItForExactlyOneToken) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(7);
  c10::NoGradGuard no_grad;
  GptqConfig config;
  config.group_size = 64;
  const at::Tensor bias = at::randn({kOut}).to(at::kHalf);
  auto layer = make_layer(quantize_rtn(at::randn({kOut, kIn}).to(at::kHalf), config), bias, config);
  const at::Tensor x = at::randn({1, 1, kIn}).to(at::kHalf);
  const at::Tensor one =
      gemv_cpu(x.reshape(-1).to(at::kFloat), layer->qweight(), layer->zeros().to(at::kFloat).contiguous(),
               layer->scales().to(at::kFloat), layer->g_idx(), config.bits, at::kHalf);
  EXPECT_TRUE(at::equal(layer->forward(x), (one + bias.to(at::kFloat)).to(at::kHalf).view({1, 1, kOut})));
  // Two tokens: the tiled forward, the same values within its summation order.
  const at::Tensor two = at::cat({x.view({1, kIn}), at::randn({1, kIn}).to(at::kHalf)});
  EXPECT_TRUE(oft::test::close(layer->forward(two)[0].to(at::kFloat), layer->forward(x).view(-1).to(at::kFloat), 2e-3,
                               "row 0 of two tokens vs one token"));
}

}  // namespace
}  // namespace oft::gptq::test
