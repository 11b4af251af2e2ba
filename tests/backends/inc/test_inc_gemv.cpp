// The one-token product straight from the FP8 codes (inc_fp8_math.h, inc_fp8_rows.h) against x · W^T with W^T from
// the CPU dequantization (INC's rounded values), for both FP8 formats, every scale dtype and scalar or per-channel
// scales; where it applies; and the forward takes it for exactly one token.
#include <string>

#include <ATen/ATen.h>
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
        EXPECT_TRUE(oft::test::close(one_token_product(x, codes, scale),
                                     at::mv(dequantize_weight_float(codes, scale).t(), x), 1e-6,
                                     "one-token product vs x · dequantized W^T"));
      }
}

TEST(IncGemv, AppliesToOneTokenOfWholePassesOnly) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  const at::Tensor scale = at::ones({}, at::kBFloat16);
  const at::Tensor codes = at::zeros({kIn, kOut}).to(at::kFloat8_e4m3fn);
  EXPECT_TRUE(one_token_product_applies(1, codes, scale));
  EXPECT_FALSE(one_token_product_applies(2, codes, scale));  // two tokens: the tiled forward
  EXPECT_FALSE(one_token_product_applies(1, at::zeros({kIn, kOut + 8}).to(at::kFloat8_e4m3fn), scale));
  EXPECT_FALSE(fp8_gemv_applies(Fp8Rows{at::kFloat8_e4m3fn, at::kFloat, sdk::RoundingPath::kPortable}));
}

TEST(IncGemv, ForwardTakesItForExactlyOneToken) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the one-token product does not run here";
  at::manual_seed(32);
  c10::NoGradGuard no_grad;
  const auto c = golden_case("e4m3_pow2");
  auto layer = std::dynamic_pointer_cast<IncLinear>(
      IncFormat().load(checkpoint_tensors(c), golden_shape(), c.quantization_config));
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
