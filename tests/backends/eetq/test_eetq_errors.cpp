// Bad checkpoints, configs and options: std::invalid_argument naming the tensor or option.
#include <limits>

#include "eetq_format.h"
#include "eetq_test_data.h"

namespace oft::eetq::test {
namespace {

class EetqErrors : public ::testing::Test {
 protected:
  GoldenCase c = golden_cases().front();  // float16, with bias, 64 -> 128
  sdk::TensorMap tensors = checkpoint_tensors(c);
  EetqFormat format;
  auto load(const sdk::TensorMap& t, sdk::LinearShape shape) { return format.load(t, shape, c.quantization_config); }
  auto load(const sdk::TensorMap& t) { return load(t, c.shape); }
};

TEST_F(EetqErrors, TensorsNamedWhenWrong) {
  auto t = tensors;
  t["weight"] = t["weight"].narrow(1, 0, 64);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"weight\" has shape (64, 64), expected (64, 128)"));
  t = tensors;
  t["weight"] = t["weight"].t().contiguous();  // nn.Linear's (out, in) is not EETQ's (in, out)
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"weight\" has shape (128, 64), expected (64, 128)"));
  t = tensors;
  t["weight"] = t["weight"].to(at::kByte);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"weight\" has dtype Byte, expected Char (int8)"));
  t = tensors;
  t.erase("weight_scales");
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"weight_scales\" is missing"));
  t = tensors;
  t["weight_scales"] = t["weight_scales"].to(at::kBFloat16);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"weight_scales\" has dtype BFloat16, expected Half or Float"));
  t = tensors;
  t["weight_scales"] = t["weight_scales"].narrow(0, 0, 64);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"weight_scales\" has shape (64), expected (128)"));
  t = tensors;
  t.erase("bias");
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"bias\" is missing"));
  EXPECT_TRUE(throws_naming([&] { load(tensors, {64, 128, false}); }, "\"bias\" is present"));
  t = tensors;
  t["bias"] = t["bias"].narrow(0, 0, 64);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"bias\" has shape (64), expected (128)"));
}

TEST_F(EetqErrors, ShapesTheLayoutCannotHoldAreRefused) {
  EXPECT_TRUE(throws_naming([&] { load(tensors, {32, 128, true}); }, "positive multiples of 64"));
  EXPECT_TRUE(throws_naming(
      [&] {
        format.quantize(at::randn({96, 64}), at::Tensor(), "{}", at::Tensor());
      },
      "got 64 and 96"));
}

TEST_F(EetqErrors, InputOfAnotherWidthIsNamed) {
  // Inputs and tensors on two devices: EetqDeviceSeam (test_eetq_dequant_operators.cpp).
  auto layer = load(tensors);
  EXPECT_TRUE(throws_naming([&] { layer->forward(at::ones({2, 100})); }, "input has 100 features"));
}

TEST_F(EetqErrors, ConfigValuesWeCannotReadAreNamed) {
  EXPECT_TRUE(throws_naming([&] { format.load(tensors, c.shape, R"({"quant_method": "eetq", "weights": "int4"})"); },
                            "\"weights\" must be \"int8\""));
  EXPECT_TRUE(throws_naming([&] { format.load(tensors, c.shape, R"({"weights": "int8"})"); }, "no \"quant_method\""));
  EXPECT_TRUE(throws_naming([&] { format.load(tensors, c.shape, "[1]"); }, "JSON object"));
  EXPECT_TRUE(throws_naming([&] { format.load(tensors, c.shape, "{"); }, "not valid JSON"));
  // modules_to_not_convert is the loader's business (those modules are stored dense).
  EXPECT_NO_THROW(
      format.load(tensors, c.shape, R"({"quant_method": "eetq", "weights": "int8", "modules_to_not_convert": ["x"]})"));
}

TEST_F(EetqErrors, QuantizeOptionsAreStrict) {
  const at::Tensor w = c.get("weight_float");
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, R"({"bits": 8})", {}); }, "unknown option \"bits\""));
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, R"({"weights": "int4"})", {}); }, "\"weights\""));
  EXPECT_TRUE(throws_naming([&] { format.quantization_config(R"({"quant_method": "awq"})"); }, "\"quant_method\""));
  at::Tensor bad = w.to(at::kFloat).clone();
  bad[3][4] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(throws_naming([&] { format.quantize(bad, {}, "{}", {}); }, "non-finite"));
  EXPECT_NO_THROW(format.quantize(w, {}, R"({"weights": "int8", "quant_method": "eetq"})", {}));
}

TEST_F(EetqErrors, RecognizesOnlyEetqConfigsWithItsTensors) {
  EXPECT_TRUE(format.recognizes(tensors, c.quantization_config));
  EXPECT_FALSE(format.recognizes(tensors, R"({"quant_method": "bitsandbytes"})"));
  EXPECT_FALSE(format.recognizes(tensors, ""));
  EXPECT_FALSE(format.recognizes(tensors, "not json"));
  auto t = tensors;
  t.erase("weight_scales");
  EXPECT_FALSE(format.recognizes(t, c.quantization_config));
  t = tensors;
  t["weight"] = c.get("weight_float");  // a dense module left in float (modules_to_not_convert)
  EXPECT_FALSE(format.recognizes(t, c.quantization_config));
}

}  // namespace
}  // namespace oft::eetq::test
