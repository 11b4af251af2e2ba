// The SDK's template plugin through the host: loaded from a plugin folder, its format quantizes a
// layer into the module type the plugin defines, its dispatcher claims that layer for OFT, merging
// requantizes, and save/load round-trips the checkpoint tensors; then the backend conformance suite.
// The folder is the in-tree build, or OFT_TEMPLATE_PLUGIN_DIR (tests/sdk_install_test.sh points it at
// the out-of-tree build).
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include "oft/errors.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "oft/plugin/plugin_host.h"
#include "oft/testing/backend_conformance.h"
#include "oft/tuner/oft_model.h"
#include "test_support.h"

namespace oft {
namespace {

namespace fs = std::filesystem;

fs::path template_folder() {
  const char* dir = std::getenv("OFT_TEMPLATE_PLUGIN_DIR");
  return dir && *dir ? fs::path(dir) : fs::path(OFT_TEST_PLUGIN_DIR) / "template";
}

PluginHostResult load_template() {
  PluginHostOptions options;
  options.settings.paths = {template_folder()};
  options.use_environment = false;
  options.use_install_folder = false;
  return load_plugins(options);
}

struct OneLayer : AdaptableModule {
  LayerSlot proj;
  OneLayer() { register_layer("proj", proj, torch::nn::Linear(16, 8)); }
};

float relative_error(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<float>();
}

TEST(TemplatePlugin, LoadsWithItsDispatcherAndFormat) {
  const PluginHostResult result = load_template();
  ASSERT_EQ(result.files.size(), 1u);
  const auto& report = result.files[0];
  ASSERT_EQ(report.status, PluginStatus::Loaded) << report.reason;
  EXPECT_EQ(report.dispatchers, std::vector<std::string>{"template"});
  EXPECT_EQ(report.formats, std::vector<std::string>{"template_int8"});
  EXPECT_EQ(result.registry->order(), (std::vector<std::string>{"template", "default"}));
  const MethodInfo method = result.formats->method("template-int8");  // what `oft quantize --method` offers
  EXPECT_EQ(method.format, "template_int8");
  EXPECT_FALSE(method.method.needs_calibration);
  EXPECT_EQ(result.formats->model_merge_refusal(R"({"quant_method": "template_int8"})"), "");
}

TEST(TemplatePlugin, ItsDispatcherClaimsTheLayerItsFormatMadeAndMergeRequantizes) {
  torch::manual_seed(0);
  const PluginHostResult plugins = load_template();
  auto model = std::make_shared<OneLayer>();
  const auto dense = model->proj.as<torch::nn::LinearImpl>();
  const at::Tensor x = torch::randn({5, 16});
  const at::Tensor dense_out = dense->forward(x).detach();

  auto quantized = plugins.formats->quantize("template_int8", "proj", dense->weight.detach(), dense->bias.detach(), "",
                                             at::Tensor());
  model->replace_layer("proj", quantized);
  const at::Tensor base_out = model->proj(x).detach();
  EXPECT_LT(relative_error(base_out, dense_out), 2e-2);  // int8 rounding

  OFTConfig config;
  config.target_modules = ModuleSelector::from_names({"proj"});
  config.oft_block_size = 4;
  config.init_weights = false;  // a non-identity rotation, so merging has something to fold
  OFTModel oft_model(model, config, {.registry = plugins.registry});
  EXPECT_EQ(oft_model.claimed_by().at("proj"), "template");
  const auto names = model->named_parameters().keys();
  EXPECT_NE(std::find(names.begin(), names.end(), "proj.oft_R.default.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "proj.base_layer.bias"), names.end());

  at::Tensor oft_out = model->proj(x);
  oft_out.sum().backward();
  EXPECT_TRUE(model->named_parameters()["proj.oft_R.default.weight"].grad().defined());
  EXPECT_FALSE(model->named_parameters()["proj.base_layer.bias"].requires_grad());
  oft_out = oft_out.detach();
  EXPECT_GT(relative_error(oft_out, base_out), 1e-3);  // the rotation changes the output

  oft_model.merge_adapter();
  const at::Tensor merged_out = model->proj(x).detach();
  EXPECT_LT(relative_error(merged_out, oft_out), 2e-2);   // requantized: within int8 rounding
  EXPECT_GT(relative_error(merged_out, base_out), 1e-3);  // and the rotation is kept
}

TEST(TemplatePlugin, SaveAndLoadRoundTripThroughTheFormat) {
  const PluginHostResult plugins = load_template();
  const at::Tensor weight = torch::randn({8, 16}), bias = torch::randn({8});
  auto layer = plugins.formats->quantize("template_int8", "", weight, bias, "{}", at::Tensor());
  const sdk::TensorMap saved = plugins.formats->save("proj", *layer);
  EXPECT_EQ(saved.size(), 3u);
  auto loaded = plugins.formats->load("proj", saved, {16, 8, true}, "");
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(at::equal(loaded->dense_weight(), layer->dense_weight()));
  EXPECT_FALSE(plugins.formats->load("proj", {{"weight", weight}}, {16, 8, false}, ""));  // dense: not its format

  sdk::TensorMap bad = saved;
  bad["weight"] = bad["weight"].narrow(0, 0, 4);
  try {
    plugins.formats->load("model.proj", bad, {16, 8, true}, "");
    FAIL() << "a mis-shaped tensor must be refused";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("module model.proj: format 'template_int8'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tensor 'weight' must be int8 of shape (8, 16)"), std::string::npos)
        << e.what();
  }
}

// The template's quantize method through the suite every backend passes.
struct TemplateInt8 : testing::ConformanceCase {
  static fs::path plugin_file() { return template_folder(); }
  static constexpr const char* plugin = "template";
  static constexpr const char* method = "template-int8";
  static constexpr sdk::MergeMode merge_mode = sdk::MergeMode::Requantize;
  static constexpr double weight_tolerance = 5e-3;  // half an int8 step of each row's max |w|
};

using namespace oft::testing;
INSTANTIATE_TYPED_TEST_SUITE_P(Template, BackendConformance, ::testing::Types<TemplateInt8>, ConformanceCaseNames);

}  // namespace
}  // namespace oft
