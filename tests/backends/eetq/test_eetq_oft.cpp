// OFT over an EETQ layer (core's OFTLinear on the plugin's LinearBase). PEFT 0.21.2 cannot wrap transformers'
// EetqLinear (TypeError "not supported"), so there is no PEFT parity test: the reference is the same OFT
// adapter over a dense nn.Linear holding the layer's dequantized weight, i.e. base(x R) with the dense weight.
// Forward and the adapter's gradient must agree within 1e-5 (fp32 layer: same values, other summation
// order). Merging requantizes per channel. The last test loads the built plugin through the host.
#include <cstdio>

#include <torch/csrc/autograd/grad_mode.h>

#include "eetq_format.h"
#include "eetq_test_data.h"
#include "oft/adapter/oft_linear.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "plugin_loading.h"

namespace oft::eetq::test {
namespace {

OFTConfig random_adapter() {
  OFTConfig config;
  config.r = 0;
  config.oft_block_size = 32;
  config.init_weights = false;  // Normal(0, 0.1): a rotation visibly different from identity
  return config;
}

// The fp32 golden case as a loaded layer, and a dense Linear with its dequantized weight and bias.
struct Pair {
  std::shared_ptr<sdk::LinearModule> eetq;
  torch::nn::Linear dense{nullptr};
};

Pair loaded_pair() {
  const auto c = golden_cases().back();  // float32, 128 -> 64, no bias
  EetqFormat format;
  Pair pair{format.load(checkpoint_tensors(c), c.shape, c.quantization_config), nullptr};
  pair.dense = torch::nn::Linear(torch::nn::LinearOptions(c.shape.in_features, c.shape.out_features).bias(false));
  torch::NoGradGuard no_grad;
  pair.dense->weight.copy_(pair.eetq->dense_weight());
  return pair;
}

TEST(EetqOft, ForwardAndAdapterGradientEqualOftOverTheDenseWeight) {
  at::manual_seed(3);
  Pair pair = loaded_pair();
  OFTLinear over_eetq{std::shared_ptr<sdk::LinearBase>(pair.eetq)}, over_dense{pair.dense};
  over_eetq->add_adapter("default", random_adapter());
  over_dense->add_adapter("default", random_adapter());
  {
    torch::NoGradGuard no_grad;
    over_dense->rotation("default")->weight.copy_(over_eetq->rotation("default")->weight);
  }
  const at::Tensor x = at::randn({5, pair.eetq->in_features()});
  const at::Tensor y = over_eetq->forward(x), expected = over_dense->forward(x);
  EXPECT_TRUE(oft::test::close(y, expected, 1e-5, "OFT over eetq vs over the dense weight"));
  EXPECT_FALSE(oft::test::close(y, pair.eetq->forward(x), 2e-2, "rotation has an effect"));
  y.pow(2).sum().backward();
  expected.pow(2).sum().backward();
  const at::Tensor grad = over_eetq->rotation("default")->weight.grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0);
  EXPECT_TRUE(oft::test::close(grad, over_dense->rotation("default")->weight.grad(), 1e-5, "adapter gradient"));
  // Only the adapter trains; the quantized tensors are buffers named as PEFT would name them.
  std::vector<std::string> trainable, buffers;
  for (const auto& p : over_eetq->named_parameters())
    if (p.value().requires_grad()) trainable.push_back(p.key());
  for (const auto& b : over_eetq->named_buffers()) buffers.push_back(b.key());
  EXPECT_EQ(trainable, std::vector<std::string>{"oft_R.default.weight"});
  EXPECT_EQ(buffers, (std::vector<std::string>{"base_layer.weight", "base_layer.weight_scales"}));
}

TEST(EetqOft, MergeRequantizesPerChannelAndKeepsTheRotation) {
  at::manual_seed(4);
  Pair pair = loaded_pair();
  OFTLinear layer{std::shared_ptr<sdk::LinearBase>(pair.eetq)};
  layer->add_adapter("default", random_adapter());
  layer->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({7, pair.eetq->in_features()});
  const at::Tensor unmerged = layer->forward(x), base = pair.eetq->forward(x);
  // The format's own rounding: the loaded layer against the float weight it was quantized from.
  const double rounding = oft::test::relative_error(base, x.mm(golden_cases().back().get("weight_float").t()));
  const at::Tensor scales_before = pair.eetq->named_buffers()["weight_scales"].clone();
  EXPECT_EQ(layer->merge_policy().mode, sdk::MergeMode::Requantize);
  layer->merge();
  ASSERT_TRUE(layer->merged());
  // The merged layer is the per-channel int8 quantization of the rotated weight: one more rounding of that
  // size (3x, as the conformance suite allows: the rotation spreads the planted channel maxima over a block),
  // and the rotation is in the new weight.
  const at::Tensor merged = pair.eetq->forward(x);
  std::printf("rounding %.3e, merged vs unmerged %.3e, merged vs base %.3e\n", rounding,
              oft::test::relative_error(merged, unmerged), oft::test::relative_error(merged, base));
  EXPECT_TRUE(oft::test::close(merged, unmerged, 3 * rounding, "merged vs unmerged"));
  EXPECT_FALSE(oft::test::close(merged, base, 5 * rounding, "the rotation is in the weight"));
  EXPECT_FALSE(at::equal(pair.eetq->named_buffers()["weight_scales"], scales_before));
  // The checkpoint's tensors the layer was loaded from are untouched.
  EXPECT_TRUE(at::equal(golden_cases().back().get("weight_scales"), scales_before));
  EXPECT_EQ(pair.eetq->named_buffers()["weight_scales"].scalar_type(), at::kFloat);
}

TEST(EetqOft, PluginRegistersItsDispatcherAndFormat) {
  PluginHostResult host = oft::test::load_only_plugin(OFT_EETQ_PLUGIN_FILE, "eetq");
  bool found = false;
  for (const auto& d : host.dispatchers)
    if (d.name == "eetq") {
      found = true;
      EXPECT_EQ(d.priority, 300);
    }
  EXPECT_TRUE(found);
  const auto method = host.formats->method("eetq");
  EXPECT_EQ(method.format, "eetq");
  EXPECT_FALSE(method.method.needs_calibration);
  const auto c = golden_cases().front();
  EXPECT_EQ(host.formats->model_merge_refusal(c.quantization_config), "");

  // The plugin's own format loads the layer, its dispatcher claims it, OFT sits on it.
  auto module = host.formats->load("model.q_proj", checkpoint_tensors(c), c.shape, c.quantization_config);
  ASSERT_TRUE(module);
  EXPECT_EQ(module->format(), "eetq");
  DispatchResult claim = host.registry->dispatch({"model.q_proj", module}, {c.quantization_config});
  EXPECT_EQ(claim.dispatcher, "eetq");
  ASSERT_TRUE(claim.claim.linear);
  OFTLinear layer(claim.claim.linear);
  layer->add_adapter("default", random_adapter());
  EXPECT_EQ(layer->forward(c.get("x")).sizes(), c.get("y").sizes());
  EXPECT_EQ(host.registry->dispatch({"model.dense", torch::nn::Linear(64, 64).ptr()}, {}).dispatcher, "default");
}

}  // namespace
}  // namespace oft::eetq::test
