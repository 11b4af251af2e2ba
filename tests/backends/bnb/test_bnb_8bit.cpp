// LLM.int8 parity with bitsandbytes 0.50.2 on CPU (tests/golden/data/bnb/bnb_8bit.safetensors).
#include <gtest/gtest.h>

#include "bnb_golden.h"
#include "formats.h"
#include "linear8bit.h"

namespace oft::bnb {
namespace {

using test::json;

// Outputs: the same float operations as bitsandbytes' CPU ops, so they agree to float rounding; the bound
// is one half-precision ulp for fp16/bf16 outputs (x dtype) and 1e-6 for fp32.
double output_tolerance(at::ScalarType dtype) {
  if (dtype == at::kHalf) return 1e-3;
  if (dtype == at::kBFloat16) return 8e-3;
  return 1e-6;
}

class Bnb8bitGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    golden_ = new oft::test::GoldenFile(oft::test::load_golden("bnb/bnb_8bit.safetensors"));
  }
  static void TearDownTestSuite() { delete golden_; }
  static const oft::test::GoldenFile& g() { return *golden_; }
  static at::Tensor field(const json& c, const std::string& f) {
    return g().get(c["name"].get<std::string>() + "/" + f);
  }
  static sdk::LinearShape shape_of(const json& c) {
    return {c["in_features"].get<int64_t>(), c["out_features"].get<int64_t>(), c["bias"].get<bool>()};
  }
  static std::string config_for(const json& c) {
    return json{{"load_in_8bit", true}, {"llm_int8_threshold", c["threshold"]}}.dump();
  }
  static oft::test::GoldenFile* golden_;
};
oft::test::GoldenFile* Bnb8bitGolden::golden_ = nullptr;

TEST_F(Bnb8bitGolden, QuantizesFloatWeightsToBitsandbytesCodesExactly) {
  Int8Format format;
  for (const auto& c : g().cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto layer = format.quantize(field(c, "dense"), at::Tensor(), "{}", at::Tensor());
    const sdk::TensorMap saved = format.save(*layer);
    EXPECT_TRUE(test::identical(saved.at("weight"), field(c, "state/weight"), "CB"));
    EXPECT_TRUE(test::identical(saved.at("SCB"), field(c, "state/SCB"), "SCB"));
  }
}

TEST_F(Bnb8bitGolden, LoadsTheStateDictAndSavesTheSameTensors) {
  Int8Format format;
  for (const auto& c : g().cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const sdk::TensorMap state = test::state_of(g(), c);
    ASSERT_TRUE(format.recognizes(state, ""));
    auto layer = format.load(state, shape_of(c), config_for(c));
    const sdk::TensorMap saved = format.save(*layer);
    ASSERT_EQ(saved.size(), state.size());
    for (const auto& [key, tensor] : state) {
      ASSERT_TRUE(saved.count(key)) << key;
      EXPECT_TRUE(test::identical(saved.at(key), tensor, key));
    }
  }
}

TEST_F(Bnb8bitGolden, DenseWeightIsBitsandbytesDequantization) {
  Int8Format format;
  for (const auto& c : g().cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto layer = format.load(test::state_of(g(), c), shape_of(c), config_for(c));
    EXPECT_TRUE(test::identical(layer->dense_weight(), field(c, "dequant"), "int8_vectorwise_dequant"));
  }
}

TEST_F(Bnb8bitGolden, EvalAndTrainingForwardMatchLinear8bitLt) {
  Int8Format format;
  for (const auto& c : g().cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto layer = format.load(test::state_of(g(), c), shape_of(c), config_for(c));
    const at::Tensor x = field(c, "input");
    const double tol = output_tolerance(x.scalar_type());
    layer->eval();
    at::Tensor y = layer->forward(x);
    EXPECT_EQ(y.scalar_type(), x.scalar_type());
    EXPECT_TRUE(oft::test::close(y, field(c, "out_eval"), tol, "eval (int8) output"));
    layer->train();
    const at::Tensor t = layer->forward(x);
    EXPECT_TRUE(oft::test::close(t, field(c, "out_train"), tol, "training (dequantized) output"));
    RecordProperty(c["name"].get<std::string>() + "_eval_rel_err",
                   std::to_string(oft::test::relative_error(y, field(c, "out_eval"))));
    RecordProperty(c["name"].get<std::string>() + "_train_rel_err",
                   std::to_string(oft::test::relative_error(t, field(c, "out_train"))));
  }
}

TEST_F(Bnb8bitGolden, OutlierThresholdChangesTheOutputAsInBitsandbytes) {
  // The planted outlier columns take the fp16 path: without the threshold the result is measurably different.
  Int8Format format;
  const json& c = g().cases[3];
  ASSERT_EQ(c["name"], "t6_f16_outliers");
  auto layer = format.load(test::state_of(g(), c), shape_of(c), json{{"llm_int8_threshold", 0.0}}.dump());
  layer->eval();
  EXPECT_GT(oft::test::relative_error(layer->forward(field(c, "input")), field(c, "out_eval")), 1e-3);
}

TEST_F(Bnb8bitGolden, QuantizationConfigIsWhatTransformersWrites) {
  const json expected = json::parse(test::metadata(g(), "quantization_config").get<std::string>());
  EXPECT_EQ(json::parse(Int8Format().quantization_config("")), expected);
}

TEST(Bnb8bit, FewTokensTakeTheTiledInt8ProductWithTheSameResultExactly) {
  // Up to 128 tokens the weight is converted a tile of rows at a time; the int32 product is exact either way and
  // each token is quantized on its own (no threshold: no outlier columns shared by the tokens), so the first
  // tokens of a long input give the same outputs, bit for bit. 300 outputs of 1024 inputs: 3 tiles, one partial.
  at::manual_seed(0);
  auto layer = Linear8bitLt::from_float(at::randn({300, 1024}) * 0.05, at::randn({300}), 0.0);
  layer->eval();
  const at::Tensor x = at::randn({200, 1024}).to(at::kHalf);
  const at::Tensor all = layer->forward(x);
  for (int64_t tokens : {1, 5, 128})
    EXPECT_TRUE(at::equal(layer->forward(x.narrow(0, 0, tokens)), all.narrow(0, 0, tokens))) << tokens;
}

}  // namespace
}  // namespace oft::bnb
