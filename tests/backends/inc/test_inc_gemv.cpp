// The one-token product straight from the FP8 codes (inc_fp8_math.h, inc_fp8_rows.h) against x · W^T with W^T from
// the CPU dequantization (INC's rounded values), for both FP8 formats, every scale dtype and scalar or per-channel
// scales, on each x86 path (eight lanes, and sixteen where the CPU has AVX-512F: the same bits); where it applies; and
// the forward takes it for exactly one token.
#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "inc_format.h"
#include "inc_fp8_math.h"
#include "inc_fp8_rows.h"
#include "inc_linear.h"
#include "inc_test_data.h"

namespace oft::inc::test {
namespace {

constexpr int64_t kIn = 96, kOut = 2 * kGemvColumns;  // two passes of outputs

bool cpu_takes_it() { return fp8_gemv_applies(Fp8Rows{at::kFloat8_e4m3fn, at::kFloat}); }

TEST(IncGemv, EqualsTheProductWithTheDequantizedWeight) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(31);
  for (const at::ScalarType fp8 : {at::kFloat8_e4m3fn, at::kFloat8_e5m2})
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16})
      for (const bool per_channel : {false, true}) {
        SCOPED_TRACE(std::string(c10::toString(fp8)) + ", " + c10::toString(dtype) +
                     (per_channel ? ", per channel" : ", one scale"));
        const at::Tensor w = at::randn({kOut, kIn});
        const at::Tensor scale = weight_scale(w.to(dtype), fp8, dtype, per_channel, false);
        const at::Tensor codes = quantize_weight(w, scale, fp8);
        const at::Tensor x = at::randn({kIn});
        ASSERT_TRUE(one_token_product_applies(1, codes, scale));
        // Against sums in double: fp32 ones depend on the CPU's GEMV kernel.
        const at::Tensor w_t = dequantize_weight_float(codes, scale);
        const at::Tensor eight = one_token_product(x, codes, scale, sdk::ProductLanes::kEight);
        EXPECT_TRUE(oft::test::close(eight, at::mv(w_t.t().to(at::kDouble), x.to(at::kDouble)).to(at::kFloat), 1e-5,
                                     "one-token product vs x · dequantized W^T"));
        if (sdk::takes_16_lanes(sdk::ProductLanes::kWidest)) {
          EXPECT_TRUE(at::equal(one_token_product(x, codes, scale, sdk::ProductLanes::kWidest), eight))
              << "16 lanes vs 8";
        }
      }
}

TEST(IncGemv, SixteenLanesGiveTheEightLanesBitsInPassesOfEveryWidth) {
  if (!cpu_takes_it() || !sdk::takes_16_lanes(sdk::ProductLanes::kWidest))
    GTEST_SKIP() << "this CPU lacks AVX-512F: the sixteen-lane product does not run here";
  at::manual_seed(34);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  for (const at::ScalarType fp8 : {at::kFloat8_e4m3fn, at::kFloat8_e5m2})
    for (const int64_t out : {int64_t{192}, int64_t{384}, int64_t{512}}) {  // passes of 64, 128 and 256 outputs
      SCOPED_TRACE(std::string(c10::toString(fp8)) + ", " + std::to_string(out) + " outputs in passes of " +
                   std::to_string(sdk::wide_pass_columns(out)));
      const at::Tensor w = at::randn({out, kIn});
      const at::Tensor scale = weight_scale(w.to(at::kBFloat16), fp8, at::kBFloat16, true, false);
      const at::Tensor codes = quantize_weight(w, scale, fp8);
      const at::Tensor x = at::randn({kIn});
      EXPECT_TRUE(at::equal(one_token_product(x, codes, scale, sdk::ProductLanes::kWidest),
                            one_token_product(x, codes, scale, sdk::ProductLanes::kEight)));
    }
  at::set_num_threads(threads);
}

TEST(IncGemv, AppliesToOneTokenOfWholePassesOnly) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  const at::Tensor scale = at::ones({}, at::kBFloat16);
  const at::Tensor codes = at::zeros({kIn, kOut}).to(at::kFloat8_e4m3fn);
  EXPECT_TRUE(one_token_product_applies(1, codes, scale));
  EXPECT_FALSE(one_token_product_applies(2, codes, scale));  // two tokens: the tiled forward
  EXPECT_FALSE(one_token_product_applies(1, at::zeros({kIn, kOut + 8}).to(at::kFloat8_e4m3fn), scale));
  EXPECT_FALSE(fp8_gemv_applies(Fp8Rows{at::kFloat8_e4m3fn, at::kFloat, sdk::RoundingPath::kPortable}));
  // Scales too large to carry E4M3's 2^8, and NaN scales, take the tiles.
  EXPECT_FALSE(one_token_product_applies(1, codes, at::full({}, 1e37, at::kFloat)));
  EXPECT_FALSE(one_token_product_applies(1, codes, at::full({}, NAN, at::kBFloat16)));
}

// NaN codes (E4M3: 0x7f and 0xff; E5M2: 0x7d-0x7f and 0xfd-0xff) make their output NaN through every rounding,
// and the other outputs keep their values.
TEST(IncGemv, NanCodesGiveNanOutputs) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(33);
  for (const at::ScalarType fp8 : {at::kFloat8_e4m3fn, at::kFloat8_e5m2})
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE(std::string(c10::toString(fp8)) + ", " + c10::toString(dtype));
      at::Tensor bytes = at::randint(0, 0x7c, {kIn, kOut}, at::kByte);  // finite codes of both formats
      const std::vector<int> nan_codes = fp8 == at::kFloat8_e4m3fn
                                             ? std::vector<int>{0x7f, 0xff}
                                             : std::vector<int>{0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff};
      for (size_t i = 0; i < nan_codes.size(); ++i) bytes[5][3 + 9 * i] = nan_codes[i];
      const at::Tensor codes = bytes.view(fp8);
      const at::Tensor scale = at::full({kOut}, 0.375, dtype);
      const at::Tensor y = one_token_product(at::randn({kIn}), codes, scale);
      const at::Tensor nan = at::isnan(y);
      for (int64_t n = 0; n < kOut; ++n) {
        const bool has_nan_code = n >= 3 && (n - 3) % 9 == 0 && (n - 3) / 9 < static_cast<int64_t>(nan_codes.size());
        EXPECT_EQ(nan[n].item<bool>(), has_nan_code) << "output " << n;
      }
    }
}

TEST(IncGemv, ForwardTakesItForExactlyOneToken) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(32);
  c10::NoGradGuard no_grad;
  const auto c = golden_case("e4m3_pow2");
  auto layer = std::dynamic_pointer_cast<IncLinear>(IncFormat().load(c.state(), golden_shape(), c.quantization_config));
  ASSERT_TRUE(layer);
  const at::Tensor x = at::randn({1, golden_shape().in_features}).to(at::kBFloat16);
  const auto hp = layer->weight_scale().scalar_type();
  const at::Tensor xq = quant_dequant_input(x, layer->input_scale(), layer->weight().scalar_type(), hp);
  const at::Tensor y = one_token_product(xq.reshape(-1).to(at::kFloat), layer->weight(), layer->weight_scale());
  const at::Tensor expected = (y.to(hp) + layer->bias().to(hp)).to(x.scalar_type()).view({1, -1});
  EXPECT_TRUE(at::equal(layer->forward(x), expected));
}

}  // namespace
}  // namespace oft::inc::test
