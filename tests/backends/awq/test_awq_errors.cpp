// Bad checkpoints, configs and options: std::invalid_argument naming the tensor or option.
#include "awq_format.h"
#include "awq_test_data.h"

namespace oft::awq::test {
namespace {

using oft::test::throws_naming;

class AwqErrors : public ::testing::Test {
 protected:
  GoldenCase c = golden_cases().front();  // gemm, 4-bit, group size 128, in 128, out 16
  sdk::TensorMap tensors = checkpoint_tensors(c);
  AwqFormat format;
  auto load(const sdk::TensorMap& t, sdk::LinearShape shape) { return format.load(t, shape, c.quantization_config); }
  auto load(const sdk::TensorMap& t) { return load(t, c.shape); }
};

TEST_F(AwqErrors, TensorsNamedWhenWrong) {
  auto t = tensors;
  t["qweight"] = t["qweight"].narrow(0, 0, 8);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"qweight\" has shape (8, 2), expected (128, 2)"));
  t = tensors;
  t["qzeros"] = t["qzeros"].to(at::kLong);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"qzeros\" has dtype Long, expected Int"));
  t = tensors;
  t["scales"] = t["scales"].to(at::kInt);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"scales\" has dtype Int, expected Half, BFloat16 or Float"));
  t = tensors;
  t["scales"] = t["scales"].to(at::kDouble);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"scales\" has dtype Double, expected Half, BFloat16 or Float"));
  t = tensors;
  t.erase("scales");
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"scales\" is missing"));
  t = tensors;
  t.erase("bias");
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"bias\" is missing"));
  EXPECT_TRUE(throws_naming([&] { load(tensors, {128, 16, false}); }, "\"bias\" is present"));
  EXPECT_TRUE(throws_naming([&] { load(tensors, {128, 12, true}); }, "out_features must be a multiple of 8"));
  EXPECT_TRUE(throws_naming([&] { load(tensors, {96, 16, true}); }, "group_size 128 must divide in_features 96"));
}

TEST_F(AwqErrors, GemvTensorsNamedWhenWrong) {
  GoldenCase gemv;
  for (const auto& each : golden_cases())
    if (each.config.layout == Layout::Gemv) gemv = each;
  auto t = checkpoint_tensors(gemv);
  t["qzeros"] = at::cat({t["qzeros"], t["qzeros"]}, 1);
  EXPECT_TRUE(throws_naming([&] { format.load(t, gemv.shape, gemv.quantization_config); }, "\"qzeros\" has shape"));
}

TEST_F(AwqErrors, InputOfAnotherWidthIsNamed) {
  // Inputs and tensors on two devices: AwqDeviceSeam (test_awq_dequant_operators.cpp).
  auto layer = load(tensors);
  EXPECT_TRUE(throws_naming([&] { layer->forward(at::zeros({2, 64})); }, "input has 64 features"));
}

TEST_F(AwqErrors, ConfigValuesNamedWhenUnsupported) {
  auto config = [](const std::string& text) { return AwqConfig::from_quantization_config(text); };
  EXPECT_TRUE(throws_naming([&] { config(R"({"quant_method": "awq", "bits": 5})"); }, "bits must be 2, 3, 4 or 8"));
  EXPECT_TRUE(throws_naming([&] { config(R"({"quant_method": "awq", "format": "exllama"})"); },
                            "format \"exllama\" is not supported"));
  EXPECT_TRUE(throws_naming([&] { config(R"({"quant_method": "awq", "format": "gemv", "bits": 3})"); },
                            "bits must be 4 for the gemv format"));
  EXPECT_TRUE(throws_naming([&] { config(R"({"quant_method": "awq", "group_size": 0})"); }, "group_size"));
  EXPECT_TRUE(throws_naming([&] { config(R"({"quant_method": "awq", "zero_point": "yes"})"); },
                            "\"zero_point\" must be a boolean"));
  EXPECT_TRUE(throws_naming([&] { config(R"({"quant_method": "awq", "pack_dtype": "int16"})"); }, "pack_dtype"));
  EXPECT_TRUE(throws_naming([&] { config("[1]"); }, "must be a JSON object"));
  // Fractions and values beyond the integer type are refused, not cast (a fuzz finding in gptq's twin reader).
  EXPECT_TRUE(throws_naming([&] { config(R"({"quant_method": "awq", "group_size": 1.2e45})"); },
                            "\"group_size\" must be an integer"));
  EXPECT_TRUE(
      throws_naming([&] { config(R"({"quant_method": "awq", "bits": 4294967300})"); }, "\"bits\" must be an integer"));
  // AutoAWQ's names and its upper-case version are read.
  const AwqConfig old = config(R"({"quant_method": "awq", "w_bit": 4, "q_group_size": 64, "version": "GEMV"})");
  EXPECT_EQ(old.group_size, 64);
  EXPECT_EQ(old.layout, Layout::Gemv);
}

TEST_F(AwqErrors, OptionsNamedWhenUnknownOrWrong) {
  const at::Tensor w = at::randn({16, 128});
  EXPECT_TRUE(
      throws_naming([&] { format.quantize(w, {}, R"({"bits": 4, "sym": true})", {}); }, "unknown option \"sym\""));
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, R"({"quant_method": "gptq"})", {}); }, "option quant_method"));
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, R"({"group_size": 96})", {}); },
                            "group_size 96 must divide in_features 128"));
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, "{}", at::randn({4, 64})); }, "calibration"));
}

TEST_F(AwqErrors, OnlyAwqConfigsAreRecognized) {
  // gptq layers have the same tensor names; only quant_method "awq" is ours.
  EXPECT_TRUE(format.recognizes(tensors, c.quantization_config));
  EXPECT_FALSE(format.recognizes(tensors, R"({"quant_method": "gptq", "bits": 4})"));
  EXPECT_FALSE(format.recognizes(tensors, ""));
  auto t = tensors;
  t.erase("qzeros");
  EXPECT_FALSE(format.recognizes(t, c.quantization_config));
}

}  // namespace
}  // namespace oft::awq::test
