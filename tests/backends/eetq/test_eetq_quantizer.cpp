// The native quantizer against the format-derived golden data (EETQ's symmetric_quantize transcribed):
// codes and scales equal, then EETQ's rounding rules on hand-made vectors, all-zero channels, the scales dtype
// the format picks, and quantize -> save -> load.
#include "eetq_format.h"
#include "eetq_quantizer.h"
#include "eetq_test_data.h"

namespace oft::eetq::test {
namespace {

std::vector<int64_t> values(const at::Tensor& t) {
  const at::Tensor longs = t.to(at::kLong).contiguous();
  return {longs.data_ptr<int64_t>(), longs.data_ptr<int64_t>() + longs.numel()};
}

TEST(EetqQuantizer, CodesAndScalesEqualEetqsQuantizer) {
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const at::Tensor weight = c.get("weight_float");
    QuantizedWeight q = quantize_per_channel(weight, weight.scalar_type());
    EXPECT_TRUE(at::equal(q.codes, c.get("codes")));
    EXPECT_TRUE(at::equal(q.scales, c.get("weight_scales")));
    // The planted channels: the largest magnitude saturates to 127, its negative is -128.
    EXPECT_EQ(values(q.codes.select(1, 0).narrow(0, 0, 5)), (std::vector<int64_t>{127, 2, 3, -2, -128}));
    EXPECT_EQ(q.codes[7][2].item<int>(), -128);
  }
}

TEST(EetqQuantizer, RoundsHalfAwayFromZeroOnTheFloatQuotient) {
  // max 1.0 -> scale 1/128; 1.5 steps -> 2, 2.5 steps -> 3 (half to even would give 2).
  at::Tensor w = at::zeros({64, 64});
  w[0].narrow(0, 0, 6).copy_(at::tensor({1.0f, 0.01171875f, 0.01953125f, -0.01953125f, -1.0f, 0.5f}));
  for (at::ScalarType dtype : {at::kHalf, at::kFloat}) {
    QuantizedWeight q = quantize_per_channel(w.to(dtype), dtype);
    EXPECT_EQ(q.scales[0].item<float>(), 0.0078125f);
    EXPECT_EQ(q.scales.scalar_type(), dtype);
    EXPECT_EQ(values(q.codes.select(1, 0).narrow(0, 0, 6)), (std::vector<int64_t>{127, 2, 3, -3, -128, 64}));
  }
}

TEST(EetqQuantizer, AllZeroChannelsGetScaleAndCodesZero) {
  at::Tensor w = at::randn({64, 64});
  w[5].zero_();
  QuantizedWeight q = quantize_per_channel(w, at::kFloat);
  EXPECT_EQ(q.scales[5].item<float>(), 0.0f);
  EXPECT_TRUE(at::equal(q.codes.select(1, 5), at::zeros({64}, at::kChar)));
  EXPECT_GT(q.scales.narrow(0, 0, 5).min().item<float>(), 0.0f);
}

// Every int8 code times scales of both dtypes (ordinary, fp16-subnormal products, fp16 overflow), as a tile of
// 21 columns (the eight-lane path's tail too) out of rows 40 wide: both paths give the same bits.
TEST(EetqQuantizer, DequantizationPathsAgreeOnEveryCode) {
  const at::Tensor codes =
      at::arange(-128, 128, at::kInt).repeat({4}).narrow(0, 0, 13 * 40).view({13, 40}).to(at::kChar);
  for (c10::ScalarType dtype : {at::kHalf, at::kFloat}) {
    at::manual_seed(5);
    at::Tensor scales = at::rand({40}) * 0.01;
    scales[3] = 1e-9;
    scales[9] = 600.0;
    scales = scales.to(dtype);
    const at::Tensor tile_codes = codes.narrow(1, 11, 21), tile_scales = scales.narrow(0, 11, 21);
    at::Tensor fastest = at::empty({13, 21}), portable = at::empty({13, 21});
    dequantize_float_kn_into(tile_codes, tile_scales, fastest, sdk::RoundingPath::kFastest);
    dequantize_float_kn_into(tile_codes, tile_scales, portable, sdk::RoundingPath::kPortable);
    EXPECT_TRUE(at::equal(fastest, portable)) << c10::toString(dtype);
    EXPECT_TRUE(at::equal(portable, (tile_codes.to(at::kFloat) * tile_scales.to(at::kFloat)).to(dtype).to(at::kFloat)));
  }
}

TEST(EetqQuantizer, FormatQuantizesSavesAndLoadsBack) {
  const auto c = golden_cases().front();
  EetqFormat format;
  const at::Tensor w = c.get("weight_float").to(at::kFloat), b = c.get("bias").to(at::kFloat);
  for (at::ScalarType dtype : {at::kHalf, at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    auto layer = format.quantize(w.to(dtype), b.to(dtype), "{}", at::Tensor());
    // float16 weights keep float16 scales (EETQ's kernel dtype); float32 and bfloat16 get float32 scales.
    EXPECT_EQ(layer->compute_dtype(), dtype == at::kHalf ? at::kHalf : at::kFloat);
    const std::string config = format.quantization_config("{}");
    EXPECT_EQ(nlohmann::json::parse(config),
              nlohmann::json::parse(R"({"quant_method": "eetq", "weights": "int8", "modules_to_not_convert": null})"));
    const sdk::TensorMap saved = format.save(*layer);
    ASSERT_TRUE(format.recognizes(saved, config));
    auto again = format.load(saved, c.shape, config);
    EXPECT_TRUE(at::equal(again->dense_weight(), layer->dense_weight()));
    // The channel maximum maps to 128 and saturates to 127, one whole step (max / 128) off; the rest are
    // within half a step (plus the scale's fp16 rounding).
    const double error = oft::test::relative_error(layer->dense_weight(), w.to(dtype));
    EXPECT_LE(error, 1.01 / 128);
    EXPECT_GT(error, 0.0);
  }
}

}  // namespace
}  // namespace oft::eetq::test
