// Bad checkpoint tensors are errors naming the tensor and what was expected; the Gaudi quant-mode names
// (scale_weight, scale_input), which a CPU cannot produce, are read from synthetic tensors.
#include <functional>

#include "inc_format.h"
#include "inc_test_data.h"

namespace oft::inc::test {
namespace {

// Loading `tensors` fails with std::invalid_argument whose message contains every one of `parts`.
void expect_error(const sdk::TensorMap& tensors, const std::vector<std::string>& parts,
                  const std::string& config = golden_cases().front().quantization_config,
                  sdk::LinearShape shape = golden_shape()) {
  try {
    IncFormat().load(tensors, shape, config);
    ADD_FAILURE() << "loaded";
  } catch (const std::invalid_argument& e) {
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

sdk::TensorMap with(sdk::TensorMap tensors, const std::string& name, const at::Tensor& value) {
  if (value.defined())
    tensors[name] = value;
  else
    tensors.erase(name);
  return tensors;
}

TEST(IncErrors, BadTensorsNameTheTensor) {
  const auto c = golden_case("e4m3_pow2");
  const sdk::TensorMap t = c.state();
  const at::Tensor w = t.at("weight");
  expect_error(with(t, "dequant_weights.scale", {}), {"dequant_weights.scale", "missing"});
  expect_error(with(with(t, "quant_input.scale", {}), "quant_input.scale_inv", {}), {"quant_input.scale", "missing"});
  expect_error(with(t, "weight", w.to(at::kBFloat16)), {"weight", "float8_e4m3fn or float8_e5m2"});
  expect_error(with(t, "weight", w.t().contiguous()), {"weight", "(32, 64)", "transposed"});
  expect_error(with(t, "weight", w.to(at::kFloat).to(at::kFloat8_e5m2)), {"weight", "fp8_config is E4M3"});
  expect_error(with(t, "dequant_weights.scale", at::ones({32}, at::kBFloat16)), {"dequant_weights.scale", "(64)"});
  expect_error(with(t, "dequant_weights.scale", at::ones({}, at::kInt)), {"dequant_weights.scale", "bf16"});
  expect_error(with(t, "dequant_weights.scale", at::ones({}, at::kDouble)),
               {"dequant_weights.scale", "Double", "fp32"});
  expect_error(with(t, "bias", {}), {"bias", "missing"});
  expect_error(with(t, "bias", at::ones({32}, at::kBFloat16)), {"bias", "(64)"});
  expect_error(with(t, "quant_input.zero_point", at::ones({}, at::kFloat)), {"quant_input.zero_point", "0.0"});
  expect_error(t, {"bias", "no bias"}, c.quantization_config, {32, 64, false});
  expect_error(t, {"quantization_config", "fp8_config"}, R"({"fp8_config": "E3M4", "scale_method": "maxabs_pow2"})");
}

TEST(IncErrors, WrongInputWidthIsAnError) {
  const auto c = golden_case("e4m3_pow2");
  auto layer = IncFormat().load(c.state(), golden_shape(), c.quantization_config);
  EXPECT_THROW(layer->forward(at::randn({2, 31})), std::invalid_argument);
}

TEST(IncErrors, ScaleInvAloneGivesTheScale) {
  // INC derives quant_input.scale as 1 / scale_inv; a checkpoint with only one of them loads.
  const auto c = golden_case("e4m3_arbitrary");
  const sdk::TensorMap t = c.state();
  auto full = IncFormat().load(t, golden_shape(), c.quantization_config);
  auto from_inv = IncFormat().load(with(t, "quant_input.scale", {}), golden_shape(), c.quantization_config);
  EXPECT_TRUE(same_bits(std::dynamic_pointer_cast<IncLinear>(from_inv)->input_scale(), t.at("quant_input.scale")));
  EXPECT_TRUE(same_bits(from_inv->forward(c.get("x")), full->forward(c.get("x"))));
}

TEST(IncErrors, GaudiNamesLoadComputeAndSaveBack) {
  // Synthetic: INC's Gaudi quant mode names the weight scale scale_weight and the input scale scale_input
  // (same values and layout as the QDQ names), without scale_inv or zero points.
  const auto c = golden_case("e4m3_pcs_const");
  const sdk::TensorMap qdq = c.state();
  const sdk::TensorMap gaudi{{"weight", qdq.at("weight")},
                             {"bias", qdq.at("bias")},
                             {"scale_weight", qdq.at("dequant_weights.scale")},
                             {"scale_input", qdq.at("quant_input.scale")}};
  IncFormat format;
  ASSERT_TRUE(format.recognizes(gaudi, c.quantization_config));
  auto layer = format.load(gaudi, golden_shape(), c.quantization_config);
  auto reference = format.load(qdq, golden_shape(), c.quantization_config);
  EXPECT_TRUE(same_bits(layer->dense_weight(), reference->dense_weight()));
  EXPECT_TRUE(same_bits(layer->forward(c.get("x")), reference->forward(c.get("x"))));
  const sdk::TensorMap saved = format.save(*layer);
  ASSERT_EQ(saved.size(), gaudi.size());
  for (const auto& [name, tensor] : gaudi) EXPECT_TRUE(same_bits(saved.at(name), tensor)) << name;
  expect_error(with(gaudi, "scale_input", {}), {"scale_input", "missing"});
}

}  // namespace
}  // namespace oft::inc::test
