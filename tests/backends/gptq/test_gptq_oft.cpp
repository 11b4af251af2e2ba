// OFT over a GPTQ layer (core's OFTLinear on the plugin's LinearBase): the forward rotates the input
// and calls the quantized layer, only the adapter trains, merging is refused with PEFT's message.
// The last test loads the built plugin through the host and uses its dispatcher and format.
#include <torch/csrc/autograd/grad_mode.h>

#include "gptq_format.h"
#include "gptq_test_data.h"
#include "oft/adapter/oft_linear.h"
#include "oft/errors.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "plugin_loading.h"

namespace oft::gptq::test {
namespace {

OFTConfig random_adapter() {
  OFTConfig config;
  config.oft_block_size = 32;
  config.init_weights = false;  // Normal(0, 0.1): a rotation visibly different from identity
  return config;
}

std::shared_ptr<GptqLinear> quantized_layer() {
  at::Tensor w = golden().get("weight"), b = golden().get("bias"), x = golden().get("calibration");
  GptqConfig config;
  config.group_size = 64;
  config.desc_act = true;
  return make_layer(quantize_gptq(w, x, config), b, config);
}

TEST(GptqOft, ForwardRotatesTheInputThenCallsTheQuantizedLayer) {
  at::manual_seed(3);
  auto base = quantized_layer();
  OFTLinear layer{std::shared_ptr<sdk::LinearBase>(base)};
  layer->add_adapter("default", random_adapter());
  at::Tensor x = at::randn({5, base->in_features()}).to(at::kHalf);
  torch::NoGradGuard no_grad;
  at::Tensor r = layer->rotation("default")->dense();
  at::Tensor expected = base->forward(x.to(at::kFloat).mm(r).to(at::kHalf));
  at::Tensor y = layer->forward(x);
  EXPECT_EQ(y.scalar_type(), at::kHalf);
  EXPECT_TRUE(oft::test::close(y, expected, 2e-3, "OFT over gptq"));
  EXPECT_FALSE(oft::test::close(y, base->forward(x), 2e-2, "rotation has an effect"));
}

TEST(GptqOft, GradientsReachOnlyTheAdapter) {
  at::manual_seed(4);
  auto base = quantized_layer();
  OFTLinear layer{std::shared_ptr<sdk::LinearBase>(base)};
  layer->add_adapter("default", random_adapter());
  layer->train();
  at::Tensor x = at::randn({6, base->in_features()});
  layer->forward(x).pow(2).sum().backward();
  std::vector<std::string> trainable;
  for (const auto& p : layer->named_parameters())
    if (p.value().requires_grad()) trainable.push_back(p.key());
  EXPECT_EQ(trainable, std::vector<std::string>{"oft_R.default.weight"});
  at::Tensor grad = layer->rotation("default")->weight.grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0);
  // The quantized tensors are buffers named as PEFT names them.
  std::vector<std::string> buffers;
  for (const auto& b : layer->named_buffers()) {
    buffers.push_back(b.key());
    EXPECT_FALSE(b.value().requires_grad());
  }
  EXPECT_EQ(buffers, (std::vector<std::string>{"base_layer.qweight", "base_layer.qzeros", "base_layer.scales",
                                               "base_layer.g_idx", "base_layer.bias"}));
}

TEST(GptqOft, MergeIsRefusedWithPeftsMessage) {
  auto base = quantized_layer();
  OFTLinear layer{std::shared_ptr<sdk::LinearBase>(base)};
  layer->add_adapter("default", random_adapter());
  at::Tensor before = base->qweight().clone();
  try {
    layer->merge();
    FAIL() << "merge did not throw";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("Cannot merge OFT layers when the model is gptq quantized"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(layer->merged());
  EXPECT_TRUE(at::equal(base->qweight(), before));
  EXPECT_THROW(base->set_dense_weight(base->dense_weight()), std::logic_error);
}

TEST(GptqOft, PluginRegistersItsDispatcherAndFormat) {
  PluginHostResult host = oft::test::load_only_plugin(OFT_GPTQ_PLUGIN_FILE, "gptq");
  bool found = false;
  for (const auto& d : host.dispatchers)
    if (d.name == "gptq") {
      found = true;
      EXPECT_EQ(d.priority, 600);
    }
  EXPECT_TRUE(found);
  // Its `oft quantize` method needs calibration; a gptq model refuses merging as a whole, with PEFT's text.
  const auto method = host.formats->method("gptq");
  EXPECT_EQ(method.format, "gptq");
  EXPECT_TRUE(method.method.needs_calibration);
  EXPECT_EQ(host.formats->model_merge_refusal(golden_cases().front().quantization_config),
            "Cannot merge OFT layers when the model is gptq quantized");
  EXPECT_EQ(host.formats->model_merge_refusal(R"({"quant_method": "awq", "bits": 4})"), "");
  EXPECT_EQ(host.formats->model_merge_refusal(""), "");

  // The plugin's own format loads the layer, its dispatcher claims it, OFT sits on it.
  const auto c = golden_cases().front();
  auto module = host.formats->load("model.q_proj", checkpoint_tensors(c), golden_shape(), c.quantization_config);
  ASSERT_TRUE(module);
  EXPECT_EQ(module->format(), "gptq");
  DispatchResult claim = host.registry->dispatch({"model.q_proj", module}, {c.quantization_config});
  EXPECT_EQ(claim.dispatcher, "gptq");
  ASSERT_TRUE(claim.claim.linear);
  OFTLinear layer(claim.claim.linear);
  layer->add_adapter("default", random_adapter());
  EXPECT_EQ(layer->forward(c.get("x")).sizes(), c.get("y").sizes());
  EXPECT_THROW(layer->merge(), UsageError);
  // A dense Linear is not the plugin's: the built-in default takes it.
  EXPECT_EQ(host.registry->dispatch({"model.dense", torch::nn::Linear(32, 32).ptr()}, {}).dispatcher, "default");
}

}  // namespace
}  // namespace oft::gptq::test
