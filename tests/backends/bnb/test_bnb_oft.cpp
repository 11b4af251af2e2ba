// OFT on bitsandbytes layers: parity with PEFT's OFT Linear wrapped around the real bnb layer, merging by
// requantization, and the plugin library loaded and used through the host (gradients, round trips and the
// rest every backend owes: test_bnb_conformance.cpp).
#include <gtest/gtest.h>

#include <torch/nn/modules/linear.h>

#include "bnb_golden.h"
#include "formats.h"
#include "linear4bit.h"
#include "linear8bit.h"
#include "oft/adapter/config.h"
#include "oft/adapter/oft_linear.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "oft/plugin/plugin_host.h"

namespace oft::bnb {
namespace {

using test::json;

OFTConfig block_config(int64_t block_size) {
  OFTConfig config;
  config.r = 0;
  config.oft_block_size = block_size;
  config.init_weights = false;
  return config;
}

TEST(BnbOft, ForwardMatchesPeftOftLinearAroundTheRealBnbLayer) {
  const auto g = oft::test::load_golden("bnb/bnb_oft.safetensors");
  for (const auto& c : g.cases) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto get = [&](const std::string& f) { return g.get(name + "/" + f); };
    const sdk::TensorMap state = test::state_of(g, c);
    const sdk::LinearShape shape{c["in_features"], c["out_features"], true};
    std::shared_ptr<sdk::LinearModule> base = c["kind"] == "int8"
                                                  ? Int8Format().load(state, shape, R"({"llm_int8_threshold": 0.0})")
                                                  : FourBitFormat().load(state, shape, "");
    OFTLinear layer{std::shared_ptr<sdk::LinearBase>(base)};
    layer->add_adapter("default", block_config(c["oft_block_size"]));
    {
      torch::NoGradGuard no_grad;
      layer->rotation("default")->weight.copy_(get("adapter_weight"));
    }
    layer->eval();
    const at::Tensor x = get("input");
    // fp16 output (int8 layer): one half ulp; fp32 (nf4 layer): float rounding of the rotation.
    const double tol = x.scalar_type() == at::kHalf ? 1e-3 : 1e-5;
    EXPECT_TRUE(oft::test::close(base->forward(x), get("base_output"), tol, "bnb layer alone"));
    const at::Tensor y = layer->forward(x);
    EXPECT_TRUE(oft::test::close(y, get("output"), tol, "OFT over the bnb layer"));
    RecordProperty(name + "_rel_err", std::to_string(oft::test::relative_error(y, get("output"))));
  }
}

struct Made {
  std::string what;
  std::shared_ptr<sdk::LinearModule> layer;
};

std::vector<Made> made_layers(const at::Tensor& w, const at::Tensor& b) {
  return {
      {"int8", Int8Format().quantize(w, b, R"({"llm_int8_threshold": 0.0})", at::Tensor())},
      {"nf4 nested", FourBitFormat().quantize(
                         w, b, R"({"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true})", at::Tensor())},
      {"fp4 bs128", FourBitFormat().quantize(w, b, R"({"bnb_4bit_blocksize": 128})", at::Tensor())}};
}

TEST(BnbOft, MergeRequantizesTheRotatedWeightAndKeepsTheRotation) {
  at::manual_seed(2);
  const at::Tensor w = at::randn({32, 64}) * 0.2;
  const at::Tensor b = at::randn({32});
  const at::Tensor x = at::randn({8, 64});
  for (const auto& m : made_layers(w, b)) {
    SCOPED_TRACE(m.what);
    const sdk::MergePolicy policy = m.layer->merge_policy();
    EXPECT_EQ(policy.mode, sdk::MergeMode::Requantize);
    EXPECT_NE(policy.reason.find("rounding"), std::string::npos);
    // The format's own rounding: one quantization of the dense weight.
    const double rounding = oft::test::relative_error(m.layer->forward(x), at::linear(x, w, b));
    OFTLinear layer{std::shared_ptr<sdk::LinearBase>(m.layer)};
    layer->add_adapter("default", block_config(16));
    {
      torch::NoGradGuard no_grad;
      auto& weight = layer->rotation("default")->weight;
      weight.copy_(at::randn(weight.sizes()) * 0.3);
    }
    layer->eval();
    torch::NoGradGuard no_grad;
    const at::Tensor base = m.layer->forward(x);
    const at::Tensor unmerged = layer->forward(x);
    layer->merge();
    const at::Tensor merged = layer->forward(x);
    // Merging quantizes the rotated weight once more. Its rounding is of the order of the base's (about 2x
    // here: the rotation widens the weight's range); the bound is 3x...
    EXPECT_LE(oft::test::relative_error(merged, unmerged), 3 * rounding) << "format rounding " << rounding;
    // ...and the rotation is in the weights (PEFT's own bnb merge drops it).
    EXPECT_GT(oft::test::relative_error(merged, base), 5 * rounding);
    RecordProperty(m.what + ": rounding / merged vs unmerged / merged vs base",
                   std::to_string(rounding) + " / " + std::to_string(oft::test::relative_error(merged, unmerged)) +
                       " / " + std::to_string(oft::test::relative_error(merged, base)));
    EXPECT_EQ(m.layer->format(), m.what == "int8" ? "bnb_8bit" : "bnb_4bit");
  }
}

TEST(BnbOft, PluginLoadsThroughTheHostAndItsLayersTakeOft) {
  PluginHostOptions options;
  options.settings.paths = {OFT_BNB_PLUGIN_DIR};
  options.settings.require = {"bnb"};
  options.use_environment = false;
  options.use_install_folder = false;
  const PluginHostResult host = load_plugins(options);
  const auto report = std::find_if(host.files.begin(), host.files.end(), [](const auto& f) { return f.name == "bnb"; });
  ASSERT_NE(report, host.files.end());
  EXPECT_EQ(report->status, PluginStatus::Loaded) << report->reason;
  EXPECT_EQ(report->dispatchers, (std::vector<std::string>{"bnb_8bit", "bnb_4bit"}));
  EXPECT_EQ(report->formats, (std::vector<std::string>{"bnb_8bit", "bnb_4bit"}));
  const std::vector<std::string> order = host.registry->order();
  EXPECT_EQ(std::vector<std::string>(order.begin(), order.begin() + 2),
            (std::vector<std::string>{"bnb_8bit", "bnb_4bit"}));
  // The `oft quantize` methods: NF4 and FP4 are the 4-bit format with its quant type preset; none needs calibration.
  std::vector<std::string> methods;
  for (const auto& m : host.formats->methods()) {
    if (m.origin.find("'bnb'") == std::string::npos) continue;  // the folder holds the other shipped plugins too
    methods.push_back(m.method.name + " " + m.format + " " + m.method.default_options_json);
    EXPECT_FALSE(m.method.needs_calibration) << m.method.name;
  }
  EXPECT_EQ(methods,
            (std::vector<std::string>{R"(bnb-fp4 bnb_4bit {"bnb_4bit_quant_type": "fp4"})", "bnb-int8 bnb_8bit {}",
                                      R"(bnb-nf4 bnb_4bit {"bnb_4bit_quant_type": "nf4"})"}));
  // PEFT merges bnb models layer by layer: no model-level refusal.
  EXPECT_EQ(host.formats->model_merge_refusal(R"({"quant_method": "bitsandbytes", "load_in_4bit": true})"), "");

  at::manual_seed(3);
  const at::Tensor w = at::randn({16, 32});
  for (const std::string format : {"bnb_8bit", "bnb_4bit"}) {
    SCOPED_TRACE(format);
    auto layer = host.formats->quantize(format, "layer", w, at::Tensor(), "{}", at::Tensor());
    const DispatchResult claim = host.registry->dispatch({"layer", layer}, {});
    EXPECT_EQ(claim.dispatcher, format);
    OFTLinear oft_layer{claim.claim.linear};
    oft_layer->add_adapter("default", block_config(8));
    EXPECT_EQ(oft_layer->forward(at::randn({2, 32})).sizes(), (std::vector<int64_t>{2, 16}));
    // The saved tensors load back through the registry's loaders.
    const sdk::TensorMap saved = host.formats->save("layer", *layer);
    auto again = host.formats->load("layer", saved, {32, 16, false}, "");
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->format(), format);
  }
  // A dense Linear is not theirs.
  torch::nn::Linear dense(32, 16);
  EXPECT_EQ(host.registry->dispatch({"dense", dense.ptr()}, {}).dispatcher, "default");
}

}  // namespace
}  // namespace oft::bnb
