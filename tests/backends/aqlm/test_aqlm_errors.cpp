// Bad checkpoint tensors and options give std::invalid_argument naming the tensor or option and what was
// expected; a layer's tensors on different devices, and an input on another device than the layer's, are refused.
#include <gtest/gtest.h>

#include "aqlm_format.h"
#include "aqlm_test_data.h"

namespace oft::aqlm::test {
namespace {

// Runs f and checks it throws std::invalid_argument whose message contains every fragment.
template <class F>
void expect_error(F f, std::initializer_list<const char*> fragments) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    for (const char* fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what() << " lacks " << fragment;
  }
}

GoldenCase case_2x8() {
  for (const auto& c : golden_cases("aqlm_layers"))
    if (c.name == "2x8_ig8_f16") return c;
  throw std::runtime_error("no 2x8_ig8_f16 case");
}

TEST(AqlmErrors, BadTensorsAreNamed) {
  const auto c = case_2x8();
  AqlmFormat format;
  auto load = [&](sdk::TensorMap t) { return [&format, &c, t] { format.load(t, c.shape, c.quantization_config); }; };
  sdk::TensorMap t = c.checkpoint();
  t.erase("codebooks");
  expect_error(load(t), {"\"codebooks\"", "missing"});
  t = c.checkpoint();
  t["codes"] = t["codes"].to(at::kShort);
  expect_error(load(t), {"\"codes\"", "Short", "Char", "8-bit"});
  t = c.checkpoint();
  t["codes"] = t["codes"].slice(1, 0, 4);
  expect_error(load(t), {"\"codes\"", "(32, 4, 2)", "(32, 8, 2)"});
  t = c.checkpoint();
  t["codebooks"] = t["codebooks"].slice(1, 0, 128);
  expect_error(load(t), {"\"codebooks\"", "(2, 256, 1, 8)"});
  t = c.checkpoint();
  t["scales"] = t["scales"].to(at::kInt);
  expect_error(load(t), {"\"scales\"", "Int", "float16"});
  t = c.checkpoint();
  t["scales"] = t["scales"].slice(0, 0, 16);
  expect_error(load(t), {"\"scales\"", "(32, 1, 1, 1)"});
  t = c.checkpoint();
  t.erase("bias");
  expect_error(load(t), {"\"bias\"", "missing"});
  t = c.checkpoint();
  t["bias"] = t["bias"].slice(0, 0, 8);
  expect_error(load(t), {"\"bias\"", "(32)"});
  // The config disagrees with the tensors.
  expect_error(
      [&] {
        format.load(c.checkpoint(), c.shape, R"({"quant_method": "aqlm", "num_codebooks": 1,
      "nbits_per_codebook": 8, "in_group_size": 8, "out_group_size": 1})");
      },
      {"\"codes\"", "(32, 8, 1)"});
  expect_error(
      [&] {
        format.load(c.checkpoint(), {60, 32, true}, c.quantization_config);
      },
      {"in_features 60", "in_group_size 8"});
}

TEST(AqlmErrors, TensorsOnAnotherDeviceThanTheLayersAreRefused) {
  const auto c = case_2x8();
  sdk::TensorMap t = c.checkpoint();
  t["codebooks"] = at::empty(t["codebooks"].sizes(), t["codebooks"].options().device(at::kMeta));
  expect_error([&] { AqlmFormat().load(t, c.shape, c.quantization_config); },
               {"aqlm: tensor \"codes\" is on cpu, the codebooks on meta"});
  auto layer = AqlmFormat().load(c.checkpoint(), c.shape, c.quantization_config);
  expect_error(
      [&] {
        layer->forward(at::empty({2, 64}, at::TensorOptions().dtype(at::kHalf).device(at::kMeta)));
      },
      {"aqlm: input is on meta, the layer's tensors on cpu"});
}

TEST(AqlmErrors, BadConfigAndOptionsAreNamed) {
  expect_error([] { AqlmConfig::from_quantization_config(R"({"quant_method": "aqlm", "nbits_per_codebook": 17})"); },
               {"nbits_per_codebook", "1..16"});
  expect_error([] { AqlmConfig::from_quantization_config(R"({"quant_method": "aqlm", "in_group_size": 0})"); },
               {"in_group_size", "positive integer"});
  expect_error([] { AqlmConfig::from_quantization_config(R"({"linear_weights_not_to_quantize": "lm_head"})"); },
               {"linear_weights_not_to_quantize", "list of strings"});
  expect_error([] { AqlmConfig::from_quantization_config("[1]"); }, {"quantization_config", "JSON object"});
  expect_error([] { QuantizeSettings::from_options(R"({"bits": 4})"); }, {"unknown option \"bits\""});
  expect_error([] { QuantizeSettings::from_options(R"({"beam_size": -1})"); }, {"beam_size", "positive integer"});
  expect_error([] { QuantizeSettings::from_options(R"({"quant_method": "gptq"})"); }, {"quant_method", "aqlm"});
  expect_error(
      [] {
        AqlmFormat().quantize(at::randn({8, 12}), {}, R"({"in_group_size": 8})", {});
      },
      {"in_group_size 8"});
  expect_error([] { AqlmFormat().quantize(at::randn({8, 16}).to(at::kDouble), {}, "", {}); }, {"\"weight\"", "Double"});
}

}  // namespace
}  // namespace oft::aqlm::test
