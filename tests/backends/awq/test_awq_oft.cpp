// OFT over an AWQ layer (core's OFTLinear on the plugin's LinearBase): forward and the adapter's gradient
// match PEFT 0.21.2's OFT wrapped around GPTQModel's AwqTorchLinear (tests/golden/gen_awq.py), merging
// requantizes (PEFT refuses it), and the built plugin registers its dispatcher and format with the host.
#include <torch/csrc/autograd/grad_mode.h>

#include "awq_format.h"
#include "awq_test_data.h"
#include "oft/adapter/oft_linear.h"
#include "oft/errors.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "plugin_loading.h"

namespace oft::awq::test {
namespace {

OFTConfig block_config(int64_t block_size) {
  OFTConfig config;
  config.r = 0;
  config.oft_block_size = block_size;
  config.init_weights = false;
  return config;
}

std::shared_ptr<sdk::LinearModule> golden_oft_base() {
  const auto& g = golden_oft();
  sdk::TensorMap tensors;
  for (const char* field : {"qweight", "qzeros", "scales", "bias"}) tensors[field] = g.get(field);
  const auto& c = g.cases.at(0);
  return AwqFormat().load(tensors, {128, 16, true}, c.at("quantization_config").dump());
}

TEST(AwqOft, ForwardAndAdapterGradientMatchPeftAroundTheRealAwqLayer) {
  const auto& g = golden_oft();
  auto base = golden_oft_base();
  OFTLinear layer{std::shared_ptr<sdk::LinearBase>(base)};
  layer->add_adapter("default", block_config(g.cases.at(0).at("oft_block_size")));
  {
    torch::NoGradGuard no_grad;
    layer->rotation("default")->weight.copy_(g.get("adapter_weight"));
  }
  layer->train();
  const at::Tensor y = layer->forward(g.get("x"));
  EXPECT_EQ(y.scalar_type(), at::kHalf);
  // PEFT's base multiplies in fp16, ours in fp32 from the same fp16 weight: within fp16 rounding.
  EXPECT_TRUE(oft::test::close(y, g.get("output"), 2e-3, "OFT over the awq layer"));
  y.to(at::kFloat).pow(2).sum().backward();
  const at::Tensor grad = layer->rotation("default")->weight.grad();
  ASSERT_TRUE(grad.defined());
  // The gradient flows back through fp16 outputs in both; PEFT's backward matmul is fp16 (5e-4 here).
  EXPECT_TRUE(oft::test::close(grad, g.get("adapter_grad"), 2e-3, "adapter gradient"));
  RecordProperty("forward_rel_err", std::to_string(oft::test::relative_error(y, g.get("output"))));
  RecordProperty("grad_rel_err", std::to_string(oft::test::relative_error(grad, g.get("adapter_grad"))));
}

TEST(AwqOft, MergeRequantizesTheRotatedWeightAndKeepsTheRotation) {
  at::manual_seed(2);
  const at::Tensor w = at::randn({32, 128}) * 0.2, b = at::randn({32}), x = at::randn({8, 128});
  for (const char* options : {R"({"group_size": 32})", R"({"format": "gemv", "group_size": 64})"}) {
    SCOPED_TRACE(options);
    auto base = AwqFormat().quantize(w, b, options, at::Tensor());
    const sdk::MergePolicy policy = base->merge_policy();
    EXPECT_EQ(policy.mode, sdk::MergeMode::Requantize);
    EXPECT_NE(policy.reason.find("rounding"), std::string::npos);
    const double rounding = oft::test::relative_error(base->forward(x), at::linear(x, w, b));
    OFTLinear layer{std::shared_ptr<sdk::LinearBase>(base)};
    layer->add_adapter("default", block_config(16));
    {
      torch::NoGradGuard no_grad;
      auto& weight = layer->rotation("default")->weight;
      weight.copy_(at::randn(weight.sizes()) * 0.3);
    }
    layer->eval();
    torch::NoGradGuard no_grad;
    const at::Tensor before = base->forward(x), unmerged = layer->forward(x);
    layer->merge();
    const at::Tensor merged = layer->forward(x);
    EXPECT_LE(oft::test::relative_error(merged, unmerged), 3 * rounding) << "format rounding " << rounding;
    EXPECT_GT(oft::test::relative_error(merged, before), 5 * rounding);
    RecordProperty(std::string(options) + ": rounding / merged vs unmerged",
                   std::to_string(rounding) + " / " + std::to_string(oft::test::relative_error(merged, unmerged)));
  }
}

TEST(AwqOft, PluginRegistersItsDispatcherAndFormat) {
  PluginHostResult host = oft::test::load_only_plugin(OFT_AWQ_PLUGIN_FILE, "awq");
  bool found = false;
  for (const auto& d : host.dispatchers)
    if (d.name == "awq") {
      found = true;
      EXPECT_EQ(d.priority, 500);
    }
  EXPECT_TRUE(found);
  const auto method = host.formats->method("awq");
  EXPECT_EQ(method.format, "awq");
  EXPECT_TRUE(method.method.needs_calibration);
  EXPECT_EQ(method.method.default_options_json,
            R"({"bits": 4, "group_size": 128, "zero_point": true, "scale_search": true})");
  const auto c = golden_cases().front();
  EXPECT_EQ(host.formats->model_merge_refusal(c.quantization_config), "");
  // A gptq checkpoint's tensors (same names) are not awq's.
  EXPECT_EQ(host.formats->load("model.q_proj", checkpoint_tensors(c), c.shape, R"({"quant_method": "gptq"})"), nullptr);

  auto module = host.formats->load("model.q_proj", checkpoint_tensors(c), c.shape, c.quantization_config);
  ASSERT_TRUE(module);
  EXPECT_EQ(module->format(), "awq");
  DispatchResult claim = host.registry->dispatch({"model.q_proj", module}, {c.quantization_config});
  EXPECT_EQ(claim.dispatcher, "awq");
  ASSERT_TRUE(claim.claim.linear);
  OFTLinear layer(claim.claim.linear);
  layer->add_adapter("default", block_config(32));
  EXPECT_EQ(layer->forward(c.get("x")).sizes(), c.get("y").sizes());
  EXPECT_EQ(host.registry->dispatch({"model.dense", torch::nn::Linear(32, 32).ptr()}, {}).dispatcher, "default");
}

}  // namespace
}  // namespace oft::awq::test
