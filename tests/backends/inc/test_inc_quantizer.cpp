// The native quantizer (`oft quantize --method inc-fp8`): INC's golden layers quantized again from the same
// float weight and calibration inputs must give INC's tensors bit for bit; FP8 casts saturate as LibTorch's
// do; options are checked; merging requantizes.
#include <limits>

#include "inc_format.h"
#include "inc_fp8_math.h"
#include "inc_test_data.h"

namespace oft::inc::test {
namespace {

TEST(IncQuantizer, RequantizesIncsGoldenLayersBitExactly) {
  IncFormat format;
  const at::Tensor w = golden().get("weight"), b = golden().get("bias"), x = golden().get("calibration");
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    auto layer = format.quantize(w, b, quantize_options(c), x);
    const sdk::TensorMap saved = format.save(*layer), expected = c.state();
    ASSERT_EQ(saved.size(), expected.size());
    for (const auto& [name, tensor] : expected) {
      ASSERT_TRUE(saved.count(name)) << name;
      EXPECT_TRUE(same_bits(saved.at(name), tensor)) << name;
    }
  }
}

TEST(IncQuantizer, CalibrationInFloat32GivesTheSameInputScale) {
  // INC's observer keeps max|x| in the hp dtype; fp32 calibration rounds to it the same way.
  const at::Tensor x = golden().get("calibration");
  for (bool pow2 : {true, false})
    EXPECT_TRUE(same_bits(input_scale(x.to(at::kFloat), at::kFloat8_e4m3fn, at::kBFloat16, pow2),
                          input_scale(x, at::kFloat8_e4m3fn, at::kBFloat16, pow2)));
}

TEST(IncQuantizer, Fp8CastsSaturateOrClampAsLibTorchDoes) {
  const at::Tensor w = at::tensor({1.0f, -1.0f, 3.0f, 1e30f}).view({4, 1});
  const at::Tensor s = at::scalar_tensor(1.0 / 448.0, at::kBFloat16);
  // E4M3: everything beyond +-448 becomes +-448.
  at::Tensor e4 = quantize_weight(w, s, at::kFloat8_e4m3fn).to(at::kFloat);
  EXPECT_EQ(e4.max().item<float>(), 448.0f);
  EXPECT_EQ(e4.min().item<float>(), -448.0f);
  // E5M2 would overflow to inf; INC's clamp keeps it at 57344.
  at::Tensor e5 = quantize_weight(w, at::scalar_tensor(1.0, at::kBFloat16), at::kFloat8_e5m2).to(at::kFloat);
  EXPECT_EQ(e5.max().item<float>(), 57344.0f);
  EXPECT_DOUBLE_EQ(fp8_max(at::kFloat8_e4m3fn), 448.0);
  EXPECT_DOUBLE_EQ(fp8_max(at::kFloat8_e5m2), 57344.0);
}

TEST(IncQuantizer, OptionsAreChecked) {
  IncFormat format;
  const at::Tensor w = at::randn({8, 16}), x = at::randn({4, 16});
  for (const char* bad :
       {R"({"bits": 8})", R"({"fp8_config": "E3M4"})", R"({"scale_method": "maxabs_hw"})",
        R"({"scale_method": "act_maxabs_pow2_weights_pcs_maxabs_pow2", "scale_format": "scalar"})",
        R"({"hp_dtype": "fp64"})", R"({"blocklist": ["lm_head"]})", R"({"blocklist": {"names": "lm_head"}})", "[1]"})
    EXPECT_THROW(format.quantize(w, at::Tensor(), bad, x), std::invalid_argument) << bad;
  try {
    format.quantize(w, at::Tensor(), "", at::Tensor());
    FAIL() << "no calibration accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("calibration"), std::string::npos) << e.what();
  }
  EXPECT_THROW(format.quantize(w, at::Tensor(), "", at::randn({4, 15})), std::invalid_argument);
  // The blocklist goes into the config, where INC's load() reads it.
  const auto config = nlohmann::json::parse(format.quantization_config(R"({"blocklist": {"names": ["lm_head"]}})"));
  EXPECT_EQ(config.at("blocklist"), nlohmann::json::parse(R"({"names": ["lm_head"], "types": []})"));
  // Per-channel defaults to INC's CONST scale format, with zero points.
  auto layer = format.quantize(w, at::Tensor(), R"({"scale_method": "act_maxabs_pow2_weights_pcs_maxabs_pow2"})", x);
  EXPECT_EQ(format.save(*layer).count("dequant_weights.zero_point"), 1u);
  EXPECT_EQ(std::dynamic_pointer_cast<IncLinear>(layer)->weight_scale().sizes(), at::IntArrayRef({8}));
}

TEST(IncQuantizer, MergeRequantizesWithNewWeightScalesAndKeepsTheInputScale) {
  IncFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const sdk::TensorMap tensors = c.state();
    const at::Tensor checkpoint_weight = tensors.at("weight").clone();
    const at::Tensor checkpoint_scale = tensors.at("dequant_weights.scale").clone();
    auto layer = std::dynamic_pointer_cast<IncLinear>(format.load(tensors, golden_shape(), c.quantization_config));
    EXPECT_EQ(layer->merge_policy().mode, sdk::MergeMode::Requantize);
    EXPECT_NE(layer->merge_policy().reason.find("FP8 rounding"), std::string::npos);
    const at::Tensor input_scale = layer->input_scale().clone();
    // Requantizing INC's own weight (float) reproduces INC's codes and scales.
    layer->set_dense_weight(golden().get("weight"));
    EXPECT_TRUE(same_bits(layer->weight(), c.get("state/weight")));
    EXPECT_TRUE(same_bits(layer->weight_scale(), c.get("state/dequant_weights.scale")));
    // A doubled weight gets doubled scales (pow2: exactly) and the same input scale.
    layer->set_dense_weight(golden().get("weight") * 2);
    EXPECT_TRUE(at::allclose(layer->weight_scale().to(at::kFloat),
                             c.get("state/dequant_weights.scale").to(at::kFloat) * 2, 1e-2));
    EXPECT_TRUE(same_bits(layer->input_scale(), input_scale));
    // The checkpoint's tensors the layer was loaded from are not written to.
    EXPECT_TRUE(same_bits(tensors.at("weight"), checkpoint_weight));
    EXPECT_TRUE(same_bits(tensors.at("dequant_weights.scale"), checkpoint_scale));
  }
}

}  // namespace
}  // namespace oft::inc::test
