// Bad tensors and options are std::invalid_argument naming the tensor / option and what was expected;
// recognition uses the tensors present; the quant-state JSON writes floats as Python does.
#include <functional>
#include <limits>

#include <gtest/gtest.h>

#include "bnb_golden.h"
#include "formats.h"
#include "quant_state_json.h"

namespace oft::bnb {
namespace {

using test::json;

using oft::test::throws_naming;

const sdk::LinearShape kShape{64, 24, true};

sdk::TensorMap saved(const sdk::LinearFormat& format, const std::string& options) {
  at::manual_seed(0);
  return format.save(*format.quantize(at::randn({24, 64}), at::randn({24}), options, at::Tensor()));
}

TEST(BnbInputs, RecognizesEachFormatByItsTensors) {
  Int8Format int8;
  FourBitFormat four;
  const sdk::TensorMap a = saved(int8, "{}");
  const sdk::TensorMap b = saved(four, R"({"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true})");
  const sdk::TensorMap dense{{"weight", at::randn({24, 64})}, {"bias", at::randn({24})}};
  const std::string config8 = R"({"quant_method": "bitsandbytes", "load_in_8bit": true})";
  EXPECT_TRUE(int8.recognizes(a, ""));
  EXPECT_FALSE(four.recognizes(a, ""));
  EXPECT_TRUE(four.recognizes(b, ""));
  EXPECT_FALSE(int8.recognizes(b, config8));      // uint8 codes are not LLM.int8
  EXPECT_FALSE(int8.recognizes(dense, config8));  // a skipped (dense) module of an 8-bit model
  EXPECT_FALSE(four.recognizes(dense, R"({"load_in_4bit": true})"));
  EXPECT_TRUE(int8.recognizes({{"weight", a.at("weight")}}, config8));  // int8 weight + the config
  EXPECT_FALSE(int8.recognizes({{"weight", a.at("weight")}}, R"({"quant_method": "gptq"})"));
}

TEST(BnbInputs, Int8TensorErrorsNameTheTensor) {
  Int8Format f;
  const sdk::TensorMap good = saved(f, "{}");
  auto with = [&](const std::string& key, const at::Tensor& t) {
    sdk::TensorMap m = good;
    if (t.defined())
      m[key] = t;
    else
      m.erase(key);
    return m;
  };
  EXPECT_NO_THROW(f.load(good, kShape, ""));
  EXPECT_TRUE(throws_naming([&] { f.load(with("weight_format", at::scalar_tensor(1, at::kByte)), kShape, ""); },
                            {"weight_format", "col32", "row"}));
  EXPECT_TRUE(throws_naming([&] { f.load(with("SCB", at::Tensor()), kShape, ""); }, {"SCB", "missing"}));
  EXPECT_TRUE(throws_naming([&] { f.load(with("SCB", at::ones({23})), kShape, ""); }, {"SCB", "(24)"}));
  EXPECT_TRUE(throws_naming([&] { f.load(good, {64, 32, true}, ""); }, {"weight", "(32, 64)"}));
  EXPECT_TRUE(throws_naming([&] { f.load(with("weight", at::ones({24, 64})), kShape, ""); }, {"weight", "int8"}));
  EXPECT_TRUE(throws_naming([&] { f.load(with("bias", at::Tensor()), kShape, ""); }, {"bias", "missing"}));
  EXPECT_TRUE(throws_naming([&] { f.load(with("CB", at::ones({1})), kShape, ""); }, {"'CB'", "SCB"}));
}

TEST(BnbInputs, FourBitTensorErrorsNameTheTensor) {
  FourBitFormat f;
  const sdk::TensorMap good = saved(f, R"({"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true})");
  const std::string key = "weight.quant_state.bitsandbytes__nf4";
  auto with = [&](const std::string& k, const at::Tensor& t) {
    sdk::TensorMap m = good;
    if (t.defined())
      m[k] = t;
    else
      m.erase(k);
    return m;
  };
  auto blob = [](const std::string& text) {
    at::Tensor t = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
    std::copy(text.begin(), text.end(), reinterpret_cast<char*>(t.data_ptr<uint8_t>()));
    return t;
  };
  EXPECT_NO_THROW(f.load(good, kShape, ""));
  EXPECT_TRUE(throws_naming([&] { f.load(with("weight.absmax", at::zeros({7}, at::kByte)), kShape, ""); },
                            {"weight.absmax", "24 elements"}));
  EXPECT_TRUE(throws_naming([&] { f.load(with("weight.nested_quant_map", at::Tensor()), kShape, ""); },
                            {"weight.nested_quant_map"}));
  EXPECT_TRUE(throws_naming([&] { f.load(with("weight.quant_map", at::zeros({16})), kShape, ""); },
                            {"weight.quant_map", "nf4"}));
  EXPECT_TRUE(throws_naming(
      [&] {
        f.load(with("weight", at::zeros({10, 1}, at::kByte)), kShape, "");
      },
      {"weight", "768 elements"}));
  EXPECT_TRUE(throws_naming([&] { f.load(good, {64, 12, true}, ""); }, {key, "shape"}));
  EXPECT_TRUE(throws_naming(
      [&] {
        f.load(with(key, blob(R"({"quant_type": "nf4", "blocksize": 48, "dtype": "float32", "shape": [24, 64]})")),
               {64, 24, true}, "");
      },
      {"blocksize", "48"}));
  EXPECT_TRUE(throws_naming([&] { f.load(with(key, blob("{not json")), kShape, ""); }, {key, "JSON"}));
  EXPECT_TRUE(
      throws_naming([&] { f.load(with(key, blob(R"({"quant_type": "nf4"})")), kShape, ""); }, {key, "blocksize"}));
  sdk::TensorMap renamed = good;
  renamed["weight.quant_state.bitsandbytes__int4"] = renamed.at(key);
  renamed.erase(key);
  EXPECT_TRUE(throws_naming([&] { f.load(renamed, kShape, ""); }, {"bitsandbytes__int4", "nf4"}));
  sdk::TensorMap two = good;
  two["weight.quant_state.bitsandbytes__fp4"] = two.at(key);
  EXPECT_TRUE(throws_naming([&] { f.load(two, kShape, ""); }, {"exactly one", "found 2"}));
}

TEST(BnbInputs, OptionErrorsNameTheOption) {
  Int8Format int8;
  FourBitFormat four;
  const at::Tensor w = at::randn({8, 32});
  auto q4 = [&](const std::string& o) { four.quantize(w, at::Tensor(), o, at::Tensor()); };
  EXPECT_TRUE(throws_naming([&] { q4(R"({"bnb_4bit_quant_typo": "nf4"})"); }, {"bnb_4bit_quant_typo"}));
  EXPECT_TRUE(throws_naming([&] { q4(R"({"bnb_4bit_quant_type": "int4"})"); }, {"bnb_4bit_quant_type", "int4"}));
  EXPECT_TRUE(throws_naming([&] { q4(R"({"bnb_4bit_blocksize": 100})"); }, {"bnb_4bit_blocksize", "4096"}));
  EXPECT_TRUE(throws_naming([&] { q4(R"({"bnb_4bit_compute_dtype": "float64"})"); }, {"bnb_4bit_compute_dtype"}));
  EXPECT_TRUE(throws_naming([&] { q4(R"({"load_in_8bit": true})"); }, {"load_in_8bit"}));
  EXPECT_TRUE(throws_naming([&] { q4("[1]"); }, {"JSON object"}));
  EXPECT_TRUE(throws_naming([&] { q4(R"({"quant_method": "gptq"})"); }, {"quant_method"}));
  EXPECT_TRUE(throws_naming([&] { int8.quantize(w, at::Tensor(), R"({"llm_int8_threshold": -1})", at::Tensor()); },
                            {"llm_int8_threshold"}));
  EXPECT_TRUE(
      throws_naming([&] { int8.quantize(w, at::Tensor(), R"({"llm_int8_has_fp16_weight": true})", at::Tensor()); },
                    {"llm_int8_has_fp16_weight"}));
  at::Tensor bad = w.clone();
  bad[0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(throws_naming([&] { four.quantize(bad, at::Tensor(), "{}", at::Tensor()); }, {"NaN"}));
  // A model's config may carry keys of newer transformers releases: ignored when loading.
  EXPECT_NO_THROW(int8.load(saved(int8, "{}"), kShape, R"({"load_in_8bit": true, "some_new_key": 1})"));
}

TEST(BnbInputs, FloatsAreWrittenAsPythonReprWritesThem) {
  const auto g = oft::test::load_golden("bnb/bnb_4bit.safetensors");
  const json reprs = test::metadata(g, "float_reprs");
  ASSERT_GE(reprs.size(), 10u);
  for (const auto& r : reprs) EXPECT_EQ(python_float_repr(r[0].get<double>()), r[1].get<std::string>());
}

}  // namespace
}  // namespace oft::bnb
