// OFT over INC layers: parity with PEFT 0.21.2's OFT Linear wrapped around INC's real PatchedLinear (forward
// and the adapter's gradient), merging by requantization (PEFT refuses it), and the built plugin through the
// host: its dispatcher, format and method.
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>

#include "inc_format.h"
#include "inc_test_data.h"
#include "oft/adapter/oft_linear.h"
#include "oft/errors.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "plugin_loading.h"

namespace oft::inc::test {
namespace {

OFTConfig peft_adapter(int64_t block_size) {
  OFTConfig config;
  config.r = 0;
  config.oft_block_size = block_size;
  config.init_weights = false;
  return config;
}

OFTLinear with_golden_adapter(const std::shared_ptr<sdk::LinearModule>& base) {
  const auto& meta = golden().contents.metadata;
  const auto oft = nlohmann::json::parse(meta.at("oft"));
  OFTLinear layer{std::shared_ptr<sdk::LinearBase>(base)};
  layer->add_adapter("default", peft_adapter(oft.at("oft_block_size")));
  torch::NoGradGuard no_grad;
  layer->rotation("default")->weight.copy_(golden().get("oft/adapter_weight"));
  return layer;
}

std::shared_ptr<sdk::LinearModule> golden_layer() {
  const auto c = golden_case("e4m3_pow2");
  return IncFormat().load(c.state(), golden_shape(), c.quantization_config);
}

TEST(IncOft, ForwardAndAdapterGradientMatchPeftAroundIncsPatchedLinear) {
  OFTLinear layer = with_golden_adapter(golden_layer());
  layer->train();
  const at::Tensor x = golden().get("oft/x");
  const at::Tensor y = layer->forward(x);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  // bf16 outputs: the rotation (fp32) may move an input across an FP8 rounding boundary differently.
  EXPECT_TRUE(oft::test::close(y, golden().get("oft/output"), 1e-2, "OFT forward vs PEFT"));
  y.to(at::kFloat).pow(2).sum().backward();
  const at::Tensor grad = layer->rotation("default")->weight.grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_TRUE(oft::test::close(grad, golden().get("oft/grad"), 2e-2, "adapter gradient vs PEFT"));
  RecordProperty("forward_rel_err", std::to_string(oft::test::relative_error(y, golden().get("oft/output"))));
  RecordProperty("grad_rel_err", std::to_string(oft::test::relative_error(grad, golden().get("oft/grad"))));
  std::vector<std::string> trainable;
  for (const auto& p : layer->named_parameters())
    if (p.value().requires_grad()) trainable.push_back(p.key());
  EXPECT_EQ(trainable, std::vector<std::string>{"oft_R.default.weight"});
}

TEST(IncOft, MergeRequantizesTheRotatedWeightAndUnmergeRestoresIt) {
  auto base = std::dynamic_pointer_cast<IncLinear>(golden_layer());
  OFTLinear layer = with_golden_adapter(base);
  layer->eval();
  const at::Tensor x = golden().get("oft/x");
  torch::NoGradGuard no_grad;
  const at::Tensor before = layer->forward(x);
  const at::Tensor input_scale = base->input_scale().clone();
  const at::Tensor weight = base->weight().clone();
  layer->merge();
  ASSERT_TRUE(layer->merged());
  EXPECT_FALSE(same_bits(base->weight(), weight));
  EXPECT_TRUE(same_bits(base->input_scale(), input_scale));
  // Merged: the base alone computes the rotated layer, up to FP8 rounding of the rotated weight.
  EXPECT_TRUE(oft::test::close(layer->forward(x), before, 0.1, "merged vs unmerged"));
  layer->unmerge();
  EXPECT_TRUE(oft::test::close(layer->forward(x), before, 0.1, "unmerged vs before"));
}

TEST(IncOft, PluginRegistersItsDispatcherFormatAndMethod) {
  PluginHostResult host = oft::test::load_only_plugin(OFT_INC_PLUGIN_FILE, "inc");
  bool found = false;
  for (const auto& d : host.dispatchers)
    if (d.name == "inc") {
      found = true;
      EXPECT_EQ(d.priority, 800);
    }
  EXPECT_TRUE(found);
  const auto method = host.formats->method("inc-fp8");
  EXPECT_EQ(method.format, "inc_fp8");
  EXPECT_TRUE(method.method.needs_calibration);
  // `oft quantize` leaves the output layer dense: INC's load() must be told to.
  EXPECT_EQ(nlohmann::json::parse(method.method.default_options_json).at("blocklist").at("names"),
            nlohmann::json::parse(R"(["lm_head"])"));
  const auto c = golden_case("e5m2_pow2");
  EXPECT_EQ(host.formats->model_merge_refusal(c.quantization_config), "");

  auto module = host.formats->load("model.up_proj", c.state(), golden_shape(), c.quantization_config);
  ASSERT_TRUE(module);
  EXPECT_EQ(module->format(), "inc_fp8");
  DispatchResult claim = host.registry->dispatch({"model.up_proj", module}, {c.quantization_config});
  EXPECT_EQ(claim.dispatcher, "inc");
  ASSERT_TRUE(claim.claim.linear);
  EXPECT_EQ(host.registry->dispatch({"model.dense", torch::nn::Linear(32, 32).ptr()}, {}).dispatcher, "default");
}

}  // namespace
}  // namespace oft::inc::test
