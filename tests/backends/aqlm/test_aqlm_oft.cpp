// OFT over an aqlm layer: forward and adapter gradient equal PEFT 0.21.2's OFT Linear wrapped around the real
// aqlm.QuantizedLinear (golden data), merging is refused, and the built plugin brings its dispatcher (PEFT's
// priority 400), format and method to the host.
#include <gtest/gtest.h>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>

#include "aqlm_format.h"
#include "aqlm_test_data.h"
#include "oft/adapter/oft_linear.h"
#include "oft/errors.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "plugin_loading.h"

namespace oft::aqlm::test {
namespace {

OFTConfig block_config(int64_t block_size) {
  OFTConfig config;
  config.r = 0;
  config.oft_block_size = block_size;
  config.init_weights = false;
  return config;
}

OFTLinear peft_like_layer(const GoldenCase& c) {
  auto base = AqlmFormat().load(c.checkpoint(), c.shape, c.quantization_config);
  OFTLinear layer{std::shared_ptr<sdk::LinearBase>(base)};
  layer->add_adapter("default", block_config(c.meta.at("oft_block_size")));
  torch::NoGradGuard no_grad;
  layer->rotation("default")->weight.copy_(c.get("adapter_weight"));
  return layer;
}

TEST(AqlmOft, ForwardAndAdapterGradientMatchPeftAroundTheRealAqlmLayer) {
  const auto cases = golden_cases("aqlm_oft");
  ASSERT_EQ(cases.size(), 2u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const bool half = c.meta.at("dtype") == "float16";
    OFTLinear layer = peft_like_layer(c);
    const at::Tensor x = c.get("x");
    layer->eval();
    {
      torch::NoGradGuard no_grad;
      const at::Tensor y = layer->forward(x);
      // fp16: one half ulp of the output; fp32: float rounding of the rotation and matmul.
      EXPECT_TRUE(oft::test::close(y, c.get("y"), half ? 1e-3 : 1e-5, "eval forward"));
    }
    layer->train();
    const at::Tensor y = layer->forward(x);
    (y.to(at::kFloat) * c.get("upstream").to(at::kFloat)).sum().backward();
    const at::Tensor grad = layer->rotation("default")->weight.grad();
    ASSERT_TRUE(grad.defined());
    // PEFT's fp16 backward rounds dL/dx to fp16 inside aqlm's matmul as ours does; the summation order differs.
    EXPECT_TRUE(oft::test::close(grad, c.get("adapter_grad"), half ? 5e-3 : 1e-5, "adapter gradient"));
  }
}

TEST(AqlmOft, MergeIsRefusedAndTheLayerIsUntouched) {
  const auto c = golden_cases("aqlm_oft").front();
  OFTLinear layer = peft_like_layer(c);
  auto base = std::dynamic_pointer_cast<AqlmLinear>(layer->base_module());
  ASSERT_TRUE(base);
  EXPECT_EQ(base->merge_policy().mode, sdk::MergeMode::Refused);
  const at::Tensor codes = base->codes().clone(), codebooks = base->codebooks().clone();
  try {
    layer->merge();
    FAIL() << "merge did not throw";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("Merging/unmerging is not available for aqlm layers"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(layer->merged());
  EXPECT_TRUE(at::equal(base->codes(), codes));
  EXPECT_TRUE(at::equal(base->codebooks(), codebooks));
  EXPECT_THROW(base->set_dense_weight(base->dense_weight()), std::logic_error);
}

TEST(AqlmOft, PluginRegistersItsDispatcherFormatAndMethod) {
  PluginHostResult host = oft::test::load_only_plugin(OFT_AQLM_PLUGIN_FILE, "aqlm");
  bool found = false;
  for (const auto& d : host.dispatchers)
    if (d.name == "aqlm") {
      found = true;
      EXPECT_EQ(d.priority, 400);  // PEFT's place for aqlm
    }
  EXPECT_TRUE(found);
  const auto method = host.formats->method("aqlm");
  EXPECT_EQ(method.format, "aqlm");
  EXPECT_FALSE(method.method.needs_calibration);
  const auto c = golden_cases("aqlm_layers").front();
  EXPECT_EQ(host.formats->model_merge_refusal(c.quantization_config), "");  // PEFT refuses per layer only

  auto module = host.formats->load("model.q_proj", c.checkpoint(), c.shape, c.quantization_config);
  ASSERT_TRUE(module);
  EXPECT_EQ(module->format(), "aqlm");
  DispatchResult claim = host.registry->dispatch({"model.q_proj", module}, {c.quantization_config});
  EXPECT_EQ(claim.dispatcher, "aqlm");
  ASSERT_TRUE(claim.claim.linear);
  OFTLinear layer(claim.claim.linear);
  layer->add_adapter("default", block_config(16));
  EXPECT_EQ(layer->forward(c.get("x")).sizes(), c.get("y").sizes());
  EXPECT_THROW(layer->merge(), UsageError);
  EXPECT_EQ(host.registry->dispatch({"model.dense", torch::nn::Linear(32, 32).ptr()}, {}).dispatcher, "default");
}

}  // namespace
}  // namespace oft::aqlm::test
