// OFT over an HQQ layer against PEFT 0.21.2 wrapping the real HQQLinear (tests/golden/gen_hqq.py):
// forward, the adapter's gradient, and merging, which both requantize with the layer's settings. oft
// keeps the bias on merge (PEFT drops it, N1) and unload / merge_and_unload work (PEFT raises, N2).
// Tolerances (relative to the largest value): forward and gradient 1e-5 (fp32 layer) and 2e-3 / 4e-3
// (fp16 layer: hqq multiplies in fp16, we in fp32; measured 4.3e-4 for both); merged layer: at most 1% of
// the codes off by one and 5e-3 on the merged weight, since the rotated weight may differ from PEFT's by
// fp32 rounding (PEFT multiplies the whole block-diagonal matrix, oft each block). Measured: equal codes,
// scales and zero points, so the merged weight is PEFT's exactly.
#include <sstream>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>

#include "hqq_format.h"
#include "hqq_linear.h"
#include "hqq_packing.h"
#include "hqq_test_data.h"
#include "oft/adapter/oft_linear.h"
#include "oft/nn/adaptable_module.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "oft/tuner/oft_model.h"
#include "plugin_loading.h"

namespace oft::hqq::test {
namespace {

OFTConfig block_config() {
  OFTConfig config;
  config.r = 0;
  config.oft_block_size = 16;
  config.init_weights = false;
  return config;
}

double tolerance(const GoldenCase& c, double fp16) { return c.compute_dtype == at::kFloat ? 1e-5 : fp16; }

struct PeftCase {
  std::shared_ptr<HqqLinear> base;
  OFTLinear layer{nullptr};
};

PeftCase peft_case(const GoldenCase& c) {
  PeftCase p;
  p.base = std::dynamic_pointer_cast<HqqLinear>(HqqFormat().load(c.state(), golden_shape(), c.quantization_config));
  p.layer = OFTLinear(std::shared_ptr<sdk::LinearBase>(p.base));
  p.layer->add_adapter("default", block_config());
  torch::NoGradGuard no_grad;
  p.layer->rotation("default")->weight.copy_(c.get("adapter_weight"));
  return p;
}

at::Tensor codes_of(const at::Tensor& w_q, const HqqMeta& meta) {
  return unpack(w_q, meta.packing, at::kInt).slice(0, 0, meta.rows);
}

TEST(HqqOft, ForwardAndGradientMatchPeftAroundTheRealHqqLinear) {
  for (const auto& c : oft_cases()) {
    SCOPED_TRACE(c.name);
    PeftCase p = peft_case(c);
    const at::Tensor x = c.get("x");
    p.layer->train();
    at::Tensor y = p.layer->forward(x);
    EXPECT_EQ(y.scalar_type(), x.scalar_type());
    y.to(at::kFloat).pow(2).sum().backward();
    const at::Tensor grad = p.layer->rotation("default")->weight.grad();
    ASSERT_TRUE(grad.defined());
    EXPECT_TRUE(oft::test::close(grad, c.get("grad"), tolerance(c, 4e-3), "adapter gradient"));
    p.layer->eval();
    torch::NoGradGuard no_grad;
    y = p.layer->forward(x);
    EXPECT_TRUE(oft::test::close(y, c.get("y"), tolerance(c, 2e-3), "OFT forward"));
    std::ostringstream errors;
    errors << oft::test::relative_error(y, c.get("y")) << " / " << oft::test::relative_error(grad, c.get("grad"));
    RecordProperty(c.name + "_forward / grad rel err", errors.str());
  }
}

TEST(HqqOft, MergeRequantizesLikePeftAndKeepsTheBias) {
  for (const auto& c : oft_cases()) {
    SCOPED_TRACE(c.name);
    PeftCase p = peft_case(c);
    p.layer->eval();
    torch::NoGradGuard no_grad;
    const at::Tensor x = c.get("x"), bias = p.base->state().bias.clone();
    const at::Tensor adapter_y = p.layer->forward(x);
    p.layer->merge();
    ASSERT_TRUE(p.layer->merged());
    const HqqState merged = p.base->state();
    // PEFT's merged layer: same settings, its codes and statistics from (nearly) the same rotated weight.
    const at::Tensor diff = (codes_of(merged.W_q, merged.meta) - codes_of(c.get("merged/W_q"), merged.meta)).abs();
    EXPECT_LE(diff.max().item<int64_t>(), 1);
    const double off = diff.gt(0).to(at::kDouble).mean().item<double>();
    EXPECT_LE(off, 0.01);
    EXPECT_TRUE(oft::test::close(merged.scale, c.get("merged/scale"), 1e-3, "merged scale"));
    EXPECT_TRUE(oft::test::close(p.base->dequantize(), c.get("merged_dequant"), 5e-3, "merged weight"));
    // The bias stays (PEFT's merged layer has none: its output lacks it).
    ASSERT_TRUE(merged.bias.defined());
    EXPECT_TRUE(at::equal(merged.bias, bias));
    const at::Tensor merged_y = p.layer->forward(x);
    const at::Tensor peft_plus_bias = (c.get("merged_y").to(at::kFloat) + bias.to(at::kFloat)).to(x.scalar_type());
    EXPECT_TRUE(oft::test::close(merged_y, peft_plus_bias, 5e-3, "merged forward vs PEFT's + bias"));
    // Requantization changes the output by about one rounding of the format (3-bit: 0.14).
    EXPECT_TRUE(oft::test::close(merged_y, adapter_y, 0.2, "merged vs adapter"));
    RecordProperty(
        c.name + "_state_bit_equal / codes_off / merged_weight_rel / merged_y_rel",
        std::to_string(at::equal(merged.W_q, c.get("merged/W_q")) && at::equal(merged.scale, c.get("merged/scale")) &&
                       at::equal(merged.zero, c.get("merged/zero"))) +
            " / " + std::to_string(off) + " / " +
            std::to_string(oft::test::relative_error(p.base->dequantize(), c.get("merged_dequant"))) + " / " +
            std::to_string(oft::test::relative_error(merged_y, peft_plus_bias)));
    p.layer->unmerge();
    EXPECT_FALSE(p.layer->merged());
    EXPECT_TRUE(at::equal(p.base->state().bias, bias));
  }
}

// A model holding one HQQ layer, so that OFTModel can inject, merge and unload through the plugin.
struct OneLayer : AdaptableModule {
  struct Holder {
    std::shared_ptr<torch::nn::Module> module;
    std::shared_ptr<torch::nn::Module> ptr() const { return module; }
  };
  LayerSlot proj;
  explicit OneLayer(std::shared_ptr<torch::nn::Module> layer) {
    register_layer("proj", proj, Holder{std::move(layer)});
  }
};

TEST(HqqOft, PluginRegistersItsDispatcherAndFormat) {
  PluginHostResult host = oft::test::load_only_plugin(OFT_HQQ_PLUGIN_FILE, "hqq");
  bool found = false;
  for (const auto& d : host.dispatchers)
    if (d.name == "hqq") {
      found = true;
      EXPECT_EQ(d.priority, 700);
    }
  EXPECT_TRUE(found);
  const auto method = host.formats->method("hqq");
  EXPECT_EQ(method.format, "hqq");
  EXPECT_FALSE(method.method.needs_calibration);
  const auto c = layer_cases().front();
  EXPECT_EQ(host.formats->model_merge_refusal(c.quantization_config), "");
  auto module = host.formats->load("model.q_proj", c.state(), golden_shape(), c.quantization_config);
  ASSERT_TRUE(module);
  EXPECT_EQ(module->format(), "hqq");
  DispatchResult claim = host.registry->dispatch({"model.q_proj", module}, {c.quantization_config});
  EXPECT_EQ(claim.dispatcher, "hqq");
  EXPECT_EQ(host.registry->dispatch({"model.dense", torch::nn::Linear(32, 32).ptr()}, {}).dispatcher, "default");
}

TEST(HqqOft, MergeAndUnloadAndUnloadWork) {
  // PEFT 0.21.2 raises AttributeError ('HQQLinear' object has no attribute 'weight') on both (N2).
  PluginHostResult host = oft::test::load_only_plugin(OFT_HQQ_PLUGIN_FILE, "hqq");
  OFTModelOptions options;
  options.registry = host.registry;
  OFTConfig config = block_config();
  config.target_modules = ModuleSelector::from_names({"proj"});
  const auto c = layer_cases().front();
  const at::Tensor x = c.get("x");
  torch::NoGradGuard no_grad;
  for (bool merge : {true, false}) {
    SCOPED_TRACE(merge ? "merge_and_unload" : "unload");
    auto base = HqqFormat().load(c.state(), golden_shape(), c.quantization_config);
    auto model = std::make_shared<OneLayer>(base);
    const at::Tensor base_y = model->proj(x);
    at::manual_seed(5);
    OFTModel oft(model, config, options);
    EXPECT_EQ(oft.claimed_by().at("proj"), "hqq");
    const at::Tensor adapter_y = model->proj(x);
    EXPECT_FALSE(oft::test::close(adapter_y, base_y, 1e-2, "the adapter has an effect"));
    if (merge) {
      oft.merge_and_unload();
      auto merged = model->proj.as<HqqLinear>();
      ASSERT_TRUE(merged);
      EXPECT_TRUE(merged->state().bias.defined());
      EXPECT_TRUE(oft::test::close(model->proj(x), adapter_y, 0.1, "merged and unloaded"));
    } else {
      oft.unload();
      EXPECT_EQ(model->proj.module(), base);
      EXPECT_TRUE(at::equal(model->proj(x), base_y));
    }
  }
}

}  // namespace
}  // namespace oft::hqq::test
