// Bad checkpoints, configs and options: std::invalid_argument naming the tensor or option.
#include "gptq_format.h"
#include "gptq_test_data.h"

namespace oft::gptq::test {
namespace {

using oft::test::throws_naming;

class GptqErrors : public ::testing::Test {
 protected:
  GoldenCase c = golden_cases().front();  // 4-bit, group size 128
  sdk::TensorMap tensors = checkpoint_tensors(c);
  GptqFormat format;
  auto load(const sdk::TensorMap& t, sdk::LinearShape shape = golden_shape()) {
    return format.load(t, shape, c.quantization_config);
  }
};

TEST_F(GptqErrors, TensorsNamedWhenWrong) {
  auto t = tensors;
  t["qweight"] = t["qweight"].narrow(0, 0, 8);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"qweight\" has shape (8, 32), expected (32, 32)"));
  t = tensors;
  t["qzeros"] = t["qzeros"].to(at::kLong);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"qzeros\" has dtype Long, expected Int"));
  t = tensors;
  t.erase("scales");
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"scales\" is missing"));
  t = tensors;
  t["scales"] = t["scales"].to(at::kDouble);
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"scales\" has dtype Double, expected Half, BFloat16 or Float"));
  t = tensors;
  t["g_idx"] = t["g_idx"] + 5;
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"g_idx\" has group indices outside [0, 2)"));
  t = tensors;
  t.erase("bias");
  EXPECT_TRUE(throws_naming([&] { load(t); }, "\"bias\" is missing"));
  EXPECT_TRUE(throws_naming([&] { load(tensors, {256, 32, false}); }, "\"bias\" is present"));
  EXPECT_TRUE(throws_naming([&] { load(tensors, {250, 32, true}); }, "multiples of 32"));
}

TEST_F(GptqErrors, MissingGroupIndexMeansInputsInOrder) {
  auto t = tensors;
  t.erase("g_idx");
  EXPECT_TRUE(at::equal(load(t)->dense_weight(), load(tensors)->dense_weight()));  // this case has no act-order
}

TEST_F(GptqErrors, ConfigValuesWeCannotReadAreNamed) {
  EXPECT_TRUE(
      throws_naming([] { GptqConfig::from_quantization_config(R"({"quant_method": "gptq", "bits": 5})"); }, "bits"));
  EXPECT_TRUE(
      throws_naming([] { GptqConfig::from_quantization_config(R"({"bits": "4"})"); }, "\"bits\" must be an integer"));
  EXPECT_TRUE(throws_naming([] { GptqConfig::from_quantization_config(R"({"group_size": 0})"); }, "group_size"));
  // fuzz_gptq_config: a group_size beyond int64 was cast from a double (undefined behaviour); now refused.
  EXPECT_TRUE(throws_naming(
      [] { GptqConfig::from_quantization_config(R"({"bits": 4, "group_size": 1244444444444444444444444444448})"); },
      "\"group_size\" must be an integer"));
  EXPECT_TRUE(
      throws_naming([] { GptqConfig::from_quantization_config(R"({"bits": 4.5})"); }, "\"bits\" must be an integer"));
  EXPECT_TRUE(throws_naming([] { GptqConfig::from_quantization_config(R"({"checkpoint_format": "marlin"})"); },
                            "checkpoint_format \"marlin\""));
  EXPECT_TRUE(
      throws_naming([] { GptqConfig::from_quantization_config(R"({"is_marlin_format": true})"); }, "is_marlin_format"));
  EXPECT_TRUE(throws_naming([] { GptqConfig::from_quantization_config(R"({"pack_dtype": "int16"})"); }, "pack_dtype"));
  EXPECT_TRUE(throws_naming([] { GptqConfig::from_quantization_config("[1]"); }, "JSON object"));
  // Synonyms GPTQModel accepts, and loader-only keys, are fine.
  GptqConfig synonyms =
      GptqConfig::from_quantization_config(R"({"wbits": 8, "q_group_size": 64, "use_exllama": false})");
  EXPECT_EQ(synonyms.bits, 8);
  EXPECT_EQ(synonyms.group_size, 64);
}

TEST_F(GptqErrors, QuantizeOptionsAreStrict) {
  at::Tensor w = golden().get("weight"), x = golden().get("calibration");
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, R"({"bitz": 4})", x); }, "unknown option \"bitz\""));
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, R"({"quant_method": "awq"})", x); }, "quant_method"));
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, R"({"group_size": 96})", x); }, "group_size 96 must divide"));
  EXPECT_TRUE(throws_naming([&] { format.quantize(w, {}, "{}", x.narrow(1, 0, 100)); }, "calibration"));
  auto layer = format.quantize(w, {}, "", at::Tensor());
  EXPECT_TRUE(throws_naming([&] { layer->forward(at::ones({2, 100})); }, "input has 100 features"));
}

TEST_F(GptqErrors, RecognizesOnlyGptqConfigsWithItsTensors) {
  EXPECT_TRUE(format.recognizes(tensors, c.quantization_config));
  EXPECT_FALSE(format.recognizes(tensors, R"({"quant_method": "awq", "bits": 4})"));  // AWQ has the same names
  EXPECT_FALSE(format.recognizes(tensors, ""));
  EXPECT_FALSE(format.recognizes(tensors, "not json"));
  auto t = tensors;
  t.erase("qzeros");
  EXPECT_FALSE(format.recognizes(t, c.quantization_config));
}

}  // namespace
}  // namespace oft::gptq::test
