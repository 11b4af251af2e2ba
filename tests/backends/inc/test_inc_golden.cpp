// Reading INC's FP8 checkpoints (tests/golden/gen_inc.py, neural-compressor-pt 3.10 on CPU): E4M3 and E5M2,
// pow2 and arbitrary scales, per-tensor and per-channel (CONST) weight scales. The dequantized weight must
// match INC's bit for bit; the forward within 1e-2 of the largest output: bf16 values, and the bf16 matmul
// kernel may round differently by CPU (on the goldens' own CPU path it matches exactly).
#include "inc_config.h"
#include "inc_format.h"
#include "inc_test_data.h"

namespace oft::inc::test {
namespace {

TEST(IncGolden, ConfigIsRecognisedByItsOwnKeys) {
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(c.meta.at("quantization_config").contains("quant_method"));
    ASSERT_TRUE(is_inc_quantization_config(c.quantization_config));
    const IncConfig config = IncConfig::from_quantization_config(c.quantization_config);
    EXPECT_EQ(config.fp8_config, c.meta.at("fp8_config"));
    EXPECT_EQ(config.scale_method, c.meta.at("scale_method"));
    EXPECT_EQ(config.scale_format, c.meta.at("scale_format"));
    EXPECT_EQ(config.per_channel_weight(), c.meta.at("per_channel").get<bool>());
    EXPECT_EQ(config.pow2_weight(), c.meta.at("pow2").get<bool>());
  }
  EXPECT_FALSE(is_inc_quantization_config(R"({"quant_method": "gptq", "bits": 4})"));
  EXPECT_FALSE(is_inc_quantization_config(""));
}

TEST(IncGolden, WritesTheQuantizationConfigIncWrites) {
  IncFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(nlohmann::json::parse(format.quantization_config(quantize_options(c))), c.meta.at("quantization_config"));
  }
}

TEST(IncGolden, LoadedLayerDequantizesLikeInc) {
  IncFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const sdk::TensorMap tensors = c.state();
    ASSERT_TRUE(format.recognizes(tensors, c.quantization_config));
    ASSERT_TRUE(format.recognizes(tensors, ""));  // the tensors alone are unmistakable
    EXPECT_FALSE(format.recognizes(tensors, R"({"quant_method": "fp8"})"));
    auto layer = format.load(tensors, golden_shape(), c.quantization_config);
    EXPECT_EQ(layer->format(), "inc_fp8");
    EXPECT_EQ(layer->compute_dtype(), at::kBFloat16);
    EXPECT_TRUE(same_bits(layer->dense_weight(), c.get("dequant").t().contiguous()));
  }
}

TEST(IncGolden, ForwardIsIncsQuantDequantMatmul) {
  IncFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    auto layer = format.load(c.state(), golden_shape(), c.quantization_config);
    const at::Tensor y = layer->forward(c.get("x"));
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);
    EXPECT_TRUE(oft::test::close(y, c.get("y"), 1e-2, "forward"));
    const double equal = y.eq(c.get("y")).to(at::kDouble).mean().item<double>();
    RecordProperty(c.name + "_bit_equal_fraction", std::to_string(equal));
    // Row 2 lies 8x beyond the calibrated range: its quantized input saturates instead of overflowing.
    EXPECT_TRUE(at::isfinite(y).all().item<bool>());
    // Not the dense layer: the input really is quantized.
    const at::Tensor dense =
        at::linear(c.get("x").to(at::kFloat), layer->dense_weight().to(at::kFloat), c.get("state/bias").to(at::kFloat));
    EXPECT_FALSE(oft::test::close(y, dense, 1e-3, "input quantization has an effect"));
  }
}

TEST(IncGolden, CachedDequantizedWeightGivesTheSameForwardAndFollowsMerges) {
  IncFormat plain, cached(/*cache_dequantized=*/true);
  const auto c = golden_case("e4m3_pcs_const");
  auto a = plain.load(c.state(), golden_shape(), c.quantization_config);
  auto b = cached.load(c.state(), golden_shape(), c.quantization_config);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(same_bits(b->forward(c.get("x")), a->forward(c.get("x"))));
  // A merge swaps in new codes and scales: the cache must follow.
  const at::Tensor rotated = golden().get("weight").flip(1);
  a->set_dense_weight(rotated);
  b->set_dense_weight(rotated);
  EXPECT_TRUE(same_bits(b->forward(c.get("x")), a->forward(c.get("x"))));
  EXPECT_FALSE(same_bits(b->forward(c.get("x")), c.get("y")));
}

TEST(IncGolden, SaveWritesBackTheCheckpointTensors) {
  IncFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const sdk::TensorMap tensors = c.state();
    auto layer = format.load(tensors, golden_shape(), c.quantization_config);
    const sdk::TensorMap saved = format.save(*layer);
    ASSERT_EQ(saved.size(), tensors.size());
    for (const auto& [name, tensor] : tensors) {
      ASSERT_TRUE(saved.count(name)) << name;
      EXPECT_TRUE(same_bits(saved.at(name), tensor)) << name;
    }
  }
}

}  // namespace
}  // namespace oft::inc::test
