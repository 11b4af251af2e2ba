// NF4 / FP4 parity with bitsandbytes 0.50.2 on CPU (tests/golden/data/bnb/bnb_4bit.safetensors): every
// blocksize bnb accepts, plain and nested absmax, fp32/fp16/bf16 source weights.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "blockwise.h"
#include "bnb_golden.h"
#include "codes.h"
#include "formats.h"
#include "linear4bit.h"
#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::bnb {
namespace {

using test::json;

class Bnb4bitGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    golden_ = new oft::test::GoldenFile(oft::test::load_golden("bnb/bnb_4bit.safetensors"));
  }
  static void TearDownTestSuite() { delete golden_; }
  static const oft::test::GoldenFile& g() { return *golden_; }
  static at::Tensor field(const json& c, const std::string& f) {
    return g().get(c["name"].get<std::string>() + "/" + f);
  }
  static sdk::LinearShape shape_of(const json& c) {
    return {c["in_features"].get<int64_t>(), c["out_features"].get<int64_t>(), c["bias"].get<bool>()};
  }
  static std::string options_for(const json& c) {
    return json{{"bnb_4bit_quant_type", c["quant_type"]},
                {"bnb_4bit_blocksize", c["blocksize"]},
                {"bnb_4bit_use_double_quant", c["nested"]},
                {"bnb_4bit_compute_dtype", c["compute_dtype"]},
                {"bnb_4bit_quant_storage", c["quant_storage"]}}
        .dump();
  }
  static std::string config_for(const json& c) {
    return json{{"load_in_4bit", true}, {"bnb_4bit_compute_dtype", c["compute_dtype"]}}.dump();
  }
  static oft::test::GoldenFile* golden_;
};
oft::test::GoldenFile* Bnb4bitGolden::golden_ = nullptr;

TEST_F(Bnb4bitGolden, QuantizesToBitsandbytesTensorsExactly) {
  FourBitFormat format;
  for (const auto& c : g().cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string dense = c["dense"];
    const at::Tensor bias = c["bias"].get<bool>() ? g().get(dense + "/bias") : at::Tensor();
    auto layer = format.quantize(g().get(dense + "/weight"), bias, options_for(c), at::Tensor());
    const sdk::TensorMap saved = format.save(*layer);
    const sdk::TensorMap state = test::state_of(g(), c);
    ASSERT_EQ(saved.size(), state.size());
    // Codes, absmax (nested codes, nested absmax, dynamic map), the JSON blob byte for byte, bias.
    for (const auto& [key, tensor] : state) {
      ASSERT_TRUE(saved.count(key)) << key;
      EXPECT_TRUE(test::identical(saved.at(key), tensor, key));
    }
  }
}

TEST_F(Bnb4bitGolden, LoadsTheStateDictDequantizesExactlyAndSavesItBack) {
  FourBitFormat format;
  for (const auto& c : g().cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const sdk::TensorMap state = test::state_of(g(), c);
    ASSERT_TRUE(format.recognizes(state, ""));
    auto layer = format.load(state, shape_of(c), config_for(c));
    EXPECT_TRUE(test::identical(layer->dense_weight(), field(c, "dequant"), "dequantize_4bit"));
    const sdk::TensorMap saved = format.save(*layer);
    for (const auto& [key, tensor] : state) EXPECT_TRUE(test::identical(saved.at(key), tensor, "saved " + key));
  }
}

TEST_F(Bnb4bitGolden, ForwardMatchesLinear4bitInItsComputeDtype) {
  FourBitFormat format;
  int checked = 0;
  for (const auto& c : g().cases) {
    if (!c.contains("input_dtype")) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    auto layer = format.load(test::state_of(g(), c), shape_of(c), config_for(c));
    EXPECT_EQ(layer->compute_dtype(), test::dtype_named(c["compute_dtype"]));
    const at::Tensor x = field(c, "input");
    const at::Tensor y = layer->forward(x);
    // Same dequantized weight, same torch linear: equal up to float rounding of the compute dtype.
    const auto cd = test::dtype_named(c["compute_dtype"]);
    const double tol = cd == at::kFloat ? 1e-6 : (cd == at::kHalf ? 1e-3 : 8e-3);
    EXPECT_EQ(y.scalar_type(), x.scalar_type());
    EXPECT_TRUE(oft::test::close(y, field(c, "output"), tol, "forward"));
    RecordProperty(c["name"].get<std::string>() + "_rel_err",
                   std::to_string(oft::test::relative_error(y, field(c, "output"))));
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST_F(Bnb4bitGolden, CodeTablesAndDynamicMapAreBitsandbytes) {
  for (const auto& c : g().cases) {
    const std::string name = c["name"];
    const at::Tensor expected = g().get(name + "/state/weight.quant_map");
    EXPECT_TRUE(test::identical(quant_map(quant_type_named(c["quant_type"], "test")), expected, name + " table"));
    if (c["nested"].get<bool>()) {
      EXPECT_TRUE(test::identical(dynamic_map(), g().get(name + "/state/weight.nested_quant_map"), "dynamic map"));
    }
  }
  const json map = test::metadata(g(), "dynamic_map");
  std::vector<float> values;
  for (const auto& v : map) values.push_back(v.get<float>());
  EXPECT_TRUE(test::identical(dynamic_map(), at::tensor(values, at::kFloat), "create_dynamic_map()"));
}

TEST_F(Bnb4bitGolden, NestedAbsmaxOfBitsandbytesNativeCpuKernelStillLoads) {
  // bnb's native CPU quantize_blockwise picks a neighbouring code for a few absmax values (see gen_bnb.py);
  // such a file decodes with its own codes.
  FourBitFormat format;
  for (const auto& c : g().cases) {
    const std::string name = c["name"];
    if (!g().has("cpu_native/" + name)) continue;
    sdk::TensorMap state = test::state_of(g(), c);
    state["weight.absmax"] = g().get("cpu_native/" + name);
    auto layer = format.load(state, shape_of(c), config_for(c));
    EXPECT_TRUE(test::identical(format.save(*layer).at("weight.absmax"), state["weight.absmax"], name));
  }
}

TEST_F(Bnb4bitGolden, QuantizationConfigIsWhatTransformersWrites) {
  const json configs = test::metadata(g(), "quantization_configs");
  const json nf4 = json::parse(configs["nf4_double"].get<std::string>());
  const json fp4 = json::parse(configs["fp4_default"].get<std::string>());
  FourBitFormat format;
  EXPECT_EQ(json::parse(format.quantization_config("{}")), fp4);
  EXPECT_EQ(
      json::parse(format.quantization_config(
          R"({"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true, "bnb_4bit_compute_dtype": "bfloat16"})")),
      nf4);
  // And those configs read back as the same settings.
  auto layer = format.quantize(g().get("dense_float32/weight"), at::Tensor(), nf4.dump(), at::Tensor());
  const auto& s = dynamic_cast<const Linear4bit&>(*layer).state();
  EXPECT_EQ(s.quant_type, QuantType::NF4);
  EXPECT_TRUE(s.nested);
  EXPECT_EQ(s.compute_dtype, at::kBFloat16);
  EXPECT_EQ(s.blocksize, 64);
}

// A few tokens take the tiled product (oft/sdk/tiled_dequantized_linear.h): two tiles, the second short and
// starting inside a packed byte and inside a block (133 floats a row: 985 rows a tile, and 985 * 133 is odd);
// against the whole-weight path of a long input.
TEST(Bnb4bitTiles, FewTokensEqualTheWholeWeightPathAcrossTiles) {
  at::manual_seed(0);
  for (const char* type : {"nf4", "fp4"}) {
    SCOPED_TRACE(type);
    const at::Tensor w = at::randn({1200, 133}) * 0.05, b = at::randn({1200});
    const std::string options = std::string(R"({"bnb_4bit_quant_type": ")") + type + R"("})";
    auto layer = FourBitFormat().quantize(w, b, options, at::Tensor());
    at::NoGradGuard no_grad;
    const at::Tensor x = at::randn({sdk::kTiledLinearMaxTokens + 8, 133});
    const at::Tensor all = layer->forward(x), few = layer->forward(x.narrow(0, 0, 5));
    EXPECT_TRUE(oft::test::close(few, all.narrow(0, 0, 5), 1e-5, "5 tokens vs the same rows of a long input"));
  }
}

// The dequantization (eight lanes on x86 with AVX2 + F16C, else scalar) against the table times the absmax in
// ATen's ops, rounded to each dtype: the whole weight, and a tile of rows starting inside a byte and a block.
TEST(Bnb4bitDecode, GivesTheTableTimesTheAbsmaxInEveryDtype) {
  at::manual_seed(61);
  constexpr int64_t kOut = 50, kIn = 133, kBlock = 64, kCount = kOut * kIn;  // odd: a half-used last byte
  const at::Tensor packed = at::randint(256, {(kCount + 1) / 2, 1}).to(at::kByte);
  const at::Tensor absmax = at::rand({(kCount + kBlock - 1) / kBlock}) + 0.1;
  const at::Tensor codes =
      at::stack({at::bitwise_right_shift(packed, 4), at::bitwise_and(packed, 15)}, 1).reshape(-1).narrow(0, 0, kCount);
  for (const QuantType type : {QuantType::NF4, QuantType::FP4}) {
    const at::Tensor table = at::tensor(std::vector<float>(code_table(type).begin(), code_table(type).end()));
    const at::Tensor values =
        at::mul(table.index_select(0, codes.to(at::kLong)), absmax.repeat_interleave(kBlock).narrow(0, 0, kCount));
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE(name_of(type) + " " + c10::toString(dtype));
      const at::Tensor expected = values.to(dtype).view({kOut, kIn});
      EXPECT_TRUE(at::equal(dequantize_4bit(packed, absmax, type, kBlock, kOut, kIn, dtype), expected));
      at::Tensor tile = at::empty({7, kIn}, at::TensorOptions().dtype(dtype));
      dequantize_4bit_rows(packed, absmax, type, kBlock, kIn, 3, tile);  // from element 399: odd, inside a block
      EXPECT_TRUE(at::equal(tile, expected.narrow(0, 3, 7)));
    }
  }
}

}  // namespace
}  // namespace oft::bnb
