// OFTModel behaviour beyond PEFT parity: clear errors (undeclared layers, merge refusals, bad adapter
// files), adapter bookkeeping, merging several adapters, unload, and low_cpu_mem_usage at scale.
#include <filesystem>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

#include "oft/errors.h"
#include "oft/nn/linear.h"
#include "oft/tuner/oft_model.h"
#include "test_models.h"
#include "test_support.h"

namespace oft {
namespace {

namespace fs = std::filesystem;

OFTConfig config_for(std::vector<std::string> targets, int64_t block_size = 5) {
  OFTConfig c;
  c.target_modules = ModuleSelector::from_names(std::move(targets));
  c.oft_block_size = block_size;
  c.init_weights = false;
  return c;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

class TempDir {
 public:
  TempDir()
      : path(fs::temp_directory_path() /
             ("oft_model_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;

 private:
  static inline int counter = 0;
};

struct HalfDeclared : AdaptableModule {
  LayerSlot head;
  HalfDeclared() {
    register_layer("head", head, torch::nn::Linear(8, 8));
    register_module("block", std::make_shared<torch::nn::Module>())->register_module("proj", torch::nn::Linear(8, 8));
  }
};

TEST(OFTModelTest, UndeclaredLayerIsAClearErrorAndLeavesTheModelAlone) {
  auto model = std::make_shared<HalfDeclared>();
  const std::string msg = message_of([&] { OFTModel(model, config_for({"head", "proj"}, 4)); });
  EXPECT_NE(msg.find("cannot replace module 'block.proj'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("register_layer"), std::string::npos) << msg;
  // Nothing was replaced, not even the declared layer that came first.
  EXPECT_NE(model->head.as<torch::nn::LinearImpl>(), nullptr);
  EXPECT_NE(model->named_modules()["block.proj"]->as<torch::nn::Linear>(), nullptr);
}

TEST(OFTModelTest, ParameterNamesAreThoseOfPeft) {
  auto mlp = std::make_shared<test::MlpModel>();
  OFTModel model(mlp, config_for({"lin0"}));
  auto names = mlp->named_parameters().keys();
  for (const char* expected :
       {"lin0.base_layer.weight", "lin0.base_layer.bias", "lin0.oft_R.default.weight", "lin1.weight"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

// A model-level refusal (ModelInfo::merge_refusal, which the model's quantization format gives at
// load time, e.g. PEFT's gptq text) and replicated layers refuse every merge.
TEST(OFTModelTest, MergeIsRefusedForTheWholeModelBeforeAnyWeightChanges) {
  const std::string format_refusal = "Cannot merge OFT layers when the model is refused by its format";
  for (bool by_format : {true, false}) {
    auto mlp = std::make_shared<test::MlpModel>();
    ModelInfo info;
    if (by_format)
      info.merge_refusal = format_refusal;
    else
      info.layers_replicated = true;
    OFTModel model(mlp, config_for({"lin0", "lin1"}), {.info = info});
    const at::Tensor before = model.oft_layers().at("lin0")->base_module()->named_parameters()["weight"].clone();
    const std::string msg = message_of([&] { model.merge_adapter(); });
    EXPECT_EQ(msg, by_format ? format_refusal : "Cannot merge OFT layers when base model layers are replicated");
    EXPECT_EQ(model.model_merge_refusal(), msg);
    EXPECT_TRUE(at::equal(model.oft_layers().at("lin0")->base_module()->named_parameters()["weight"], before));
    EXPECT_THROW(model.merge_and_unload(), UsageError);
  }
  EXPECT_EQ(OFTModel(std::make_shared<test::MlpModel>(), config_for({"lin0"})).model_merge_refusal(), "");
}

TEST(OFTModelTest, AddedAdapterIsInactiveAndFrozenUntilSetActive) {
  auto mlp = std::make_shared<test::MlpModel>();
  OFTModel model(mlp, config_for({"lin0"}));
  model.add_adapter("second", config_for({"lin0", "lin1"}));
  EXPECT_EQ(model.active_adapters(), std::vector<std::string>{"default"});
  auto lin0 = model.oft_layers().at("lin0");
  EXPECT_TRUE(lin0->rotation("default")->weight.requires_grad());
  EXPECT_FALSE(lin0->rotation("second")->weight.requires_grad());
  model.set_adapter({"second"});
  EXPECT_FALSE(lin0->rotation("default")->weight.requires_grad());
  EXPECT_TRUE(lin0->rotation("second")->weight.requires_grad());
  EXPECT_THROW(model.set_adapter({"missing"}), UsageError);
  EXPECT_THROW(model.add_adapter("second", config_for({"lin0"})), UsageError);

  OFTConfig with_bias = config_for({"lin2"});
  with_bias.bias = Bias::All;
  model.add_adapter("biased", with_bias);
  with_bias.bias = Bias::OftOnly;
  EXPECT_THROW(model.add_adapter("biased2", with_bias), ConfigError);  // only one adapter may train biases
}

TEST(OFTModelTest, DeleteAdapterRefusesMergedAndMovesTheActiveAdapter) {
  auto mlp = std::make_shared<test::MlpModel>();
  OFTModel model(mlp, config_for({"lin0"}));
  model.add_adapter("beta", config_for({"lin0"}));
  model.merge_adapter();
  EXPECT_NE(message_of([&] { model.delete_adapter("default"); }).find("while they are merged"), std::string::npos);
  model.unmerge_adapter();
  model.delete_adapter("default");
  EXPECT_EQ(model.active_adapters(), std::vector<std::string>{"beta"});
  EXPECT_EQ(model.adapter_names(), std::vector<std::string>{"beta"});
  EXPECT_FALSE(model.oft_layers().at("lin0")->has_adapter("default"));
  EXPECT_THROW(model.delete_adapter("default"), UsageError);
}

TEST(OFTModelTest, TwoActiveAdaptersMergeIntoTheSameModelAndUnloadRestoresTheBase) {
  torch::NoGradGuard no_grad;
  auto lm = std::make_shared<test::TinyLm>();
  lm->eval();
  const at::Tensor ids = at::randint(0, 50, {2, 7});
  const at::Tensor base_out = lm->forward(ids);
  OFTModel model(lm, config_for({"q_proj", "up_proj"}, 4));
  model.add_adapter("second", config_for({"q_proj", "down_proj"}, 8));
  model.set_adapter({"default", "second"});
  const at::Tensor both = lm->forward(ids);
  model.merge_adapter();
  EXPECT_TRUE(test::close(lm->forward(ids), both, 1e-5, "merged two adapters"));
  model.unload();  // unmerges first: the base model comes back unchanged
  EXPECT_NE(lm->model->layers[0]->as<test::Block>()->self_attn->q_proj.as<torch::nn::LinearImpl>(), nullptr);
  EXPECT_TRUE(test::close(lm->forward(ids), base_out, 1e-5, "after unload"));
}

TEST(OFTModelTest, BadAdapterFilesAreRefusedWithTheReasonAndLeaveNoAdapterBehind) {
  TempDir dir;
  auto source = std::make_shared<test::MlpModel>();
  OFTModel saved(source, config_for({"lin0", "lin1"}));
  saved.save_pretrained(dir.path);
  const fs::path weights = dir.path / "adapter_model.safetensors";
  const auto original = safetensors::load(weights).tensors;

  auto try_load = [&](const safetensors::TensorMap& tensors) {
    safetensors::save(weights, tensors);
    auto mlp = std::make_shared<test::MlpModel>();
    OFTModel model(mlp, config_for({"lin2"}, 2), {.adapter_name = "base"});
    const std::string msg = message_of([&] { model.load_adapter(dir.path, "loaded"); });
    EXPECT_EQ(model.adapter_names(), std::vector<std::string>{"base"}) << "a failed load must not leave an adapter";
    return msg;
  };
  auto missing = original;
  missing.erase("base_model.model.lin1.oft_R.weight");
  EXPECT_NE(try_load(missing).find("missing 1 tensor(s) for adapter 'loaded': lin1.oft_R.weight"), std::string::npos);
  auto wrong_shape = original;
  wrong_shape["base_model.model.lin1.oft_R.weight"] = at::zeros({3, 3});
  EXPECT_NE(try_load(wrong_shape).find("has shape [3, 3]"), std::string::npos);
  auto wrong_dtype = original;
  wrong_dtype["base_model.model.lin1.oft_R.weight"] = original.at("base_model.model.lin1.oft_R.weight").to(at::kInt);
  EXPECT_NE(try_load(wrong_dtype).find("expected a floating-point dtype"), std::string::npos);
  auto old_format = original;
  old_format["base_model.model.lin0.oft_r"] = at::zeros({4, 5, 5});
  EXPECT_NE(try_load(old_format).find("PEFT <= 0.15.2"), std::string::npos);
}

std::map<std::string, at::Tensor> snapshot(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : m.named_parameters()) out[item.key()] = item.value().detach().clone();
  return out;
}

TEST(OFTModelTest, LowCpuMemUsageCreatesMetaAdaptersThatLoadingMaterializes) {
  TempDir dir;
  auto source = std::make_shared<test::MlpModel>();
  source->eval();
  const auto base_weights = snapshot(*source);
  OFTModel saved(source, config_for({"lin0", "lin1"}));
  saved.save_pretrained(dir.path);
  const at::Tensor x = at::randn({3, 10});
  const at::Tensor expected = source->forward(x);

  auto mlp = std::make_shared<test::MlpModel>();
  mlp->eval();
  test::load_parameters(*mlp, base_weights);
  OFTModel model(mlp, config_for({"lin0", "lin1"}), {.low_cpu_mem_usage = true});
  EXPECT_TRUE(model.oft_layers().at("lin0")->rotation("default")->weight.is_meta());
  model.load_adapter(dir.path, "loaded", {.low_cpu_mem_usage = true});
  EXPECT_FALSE(model.oft_layers().at("lin0")->rotation("loaded")->weight.is_meta());
  model.set_adapter({"loaded"});
  EXPECT_TRUE(test::close(mlp->forward(x), expected, 1e-5, "materialized adapter"));
}

// 32 LLaMA-7B-shaped layers with base weights on the meta device: nothing is allocated for them
// and the adapters stay on meta. (bench/tuner/bench_inject_llama7b reports time and peak memory.)
TEST(OFTModelTest, InjectsIntoA7bShapedMetaModel) {
  constexpr int64_t layers = 32, hidden = 4096, intermediate = 11008, block = 32;
  auto model = test::make_llama_shaped(layers, hidden, intermediate, c10::Device(c10::kMeta));
  OFTConfig config = config_for({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, block);
  OFTModel oft_model(model, config, {.info = {"llama"}, .low_cpu_mem_usage = true});
  EXPECT_EQ(oft_model.targeted_module_names().size(), static_cast<size_t>(7 * layers));
  for (const auto& [path, layer] : oft_model.oft_layers())
    ASSERT_TRUE(layer->rotation("default")->weight.is_meta()) << path;
  // d (b - 1) / 2 per module: six modules rotate 4096 features, down_proj 11008.
  const int64_t per_layer = (6 * hidden + intermediate) * (block - 1) / 2;
  EXPECT_EQ(oft_model.count_parameters().trainable, layers * per_layer);
}

}  // namespace
}  // namespace oft
