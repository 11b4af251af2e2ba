// OFTModel against the real PEFT (tests/golden/gen_oft_models.py): PEFT-saved adapters load here and
// give PEFT's outputs (one adapter, two active, disabled, merged), targeted modules and parameter
// counts match, and what we save has PEFT's keys and values. Targeting: a table of configs on one
// model, each with PEFT's targeted names or its error. Tolerance 1e-5 relative (fp32).
#include <filesystem>
#include <fstream>

#include "oft/errors.h"
#include "oft/tuner/oft_model.h"
#include "oft/tuner/target_plan.h"
#include "test_models.h"
#include "test_support.h"

namespace oft {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kModels = fs::path(OFT_GOLDEN_DIR) / "models";

at::Tensor load_input(const std::string& model) {
  return safetensors::load(kModels / model / "input.safetensors").tensors.at("input");
}

test::NamedModel base_model(const std::string& name) {
  test::NamedModel m = test::make_model(name);
  const std::string file = name == "tiny_lm.model" ? "tiny_lm" : name;
  test::load_parameters(*m.module, safetensors::load(kModels / file / "base.safetensors").tensors,
                        name == "tiny_lm.model" ? "model." : "");
  m.module->eval();
  return m;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class PeftModelCase : public ::testing::TestWithParam<std::string> {};

TEST_P(PeftModelCase, LoadsPeftAdapterAndReproducesItsOutputs) {
  const fs::path dir = kModels / GetParam();
  const safetensors::Contents expected = safetensors::load(dir / "expected.safetensors");
  const json meta = json::parse(expected.metadata.at("case"));
  const std::string model_name = meta["model"];
  test::NamedModel m = base_model(model_name);
  const at::Tensor input = load_input(model_name);
  const at::Tensor base_out = m.forward(input);

  OFTModel model = OFTModel::from_pretrained(m.module, dir, {.is_trainable = true});
  const bool two = fs::exists(dir / "other");
  if (two) model.load_adapter(dir / "other", "other", {.is_trainable = true});

  // Saved before any forward (COFT projects weights in place at the first forward, in PEFT too):
  // same keys, shapes and values as PEFT's files.
  const fs::path out = fs::temp_directory_path() / ("oft_model_golden_" + GetParam());
  fs::remove_all(out);
  model.save_pretrained(out);
  for (const std::string& adapter :
       two ? std::vector<std::string>{"default", "other"} : std::vector<std::string>{"default"}) {
    const fs::path sub = adapter == "default" ? fs::path() : fs::path(adapter);
    const auto ours = safetensors::load(out / sub / "adapter_model.safetensors");
    const auto peft = safetensors::load(dir / sub / "adapter_model.safetensors");
    ASSERT_EQ(ours.tensors.size(), peft.tensors.size()) << adapter;
    for (const auto& [key, tensor] : peft.tensors) {
      ASSERT_EQ(ours.tensors.count(key), 1u) << "missing key " << key;
      EXPECT_TRUE(test::close(ours.tensors.at(key), tensor, 1e-6, key));
    }
    EXPECT_EQ(ours.metadata.at("format"), "pt");
    EXPECT_TRUE(OFTConfig::load(out / sub / "adapter_config.json").inference_mode);
  }
  fs::remove_all(out);

  EXPECT_EQ(model.targeted_module_names(), sorted(meta["targeted_module_names"].get<std::vector<std::string>>()));
  EXPECT_TRUE(test::close(m.forward(input), expected.tensors.at("output_default"), 1e-5, "output, default active"));
  {
    auto disabled = model.disable_adapters();
    EXPECT_TRUE(
        test::close(m.forward(input), expected.tensors.at("output_disabled"), 1e-5, "output, adapters disabled"));
    EXPECT_EQ(model.count_parameters().trainable, 0);
  }
  const auto counts = meta["counts_default_active"];
  EXPECT_EQ(model.count_parameters().trainable, counts["trainable_params"].get<int64_t>());
  EXPECT_EQ(model.count_parameters().total, counts["all_params"].get<int64_t>());
  if (two && expected.tensors.count("output_both")) {
    model.set_adapter({"default", "other"});
    EXPECT_TRUE(test::close(m.forward(input), expected.tensors.at("output_both"), 1e-5, "output, both active"));
    if (meta.contains("counts_both_active")) {
      EXPECT_EQ(model.count_parameters().trainable, meta["counts_both_active"]["trainable_params"].get<int64_t>());
    }
    model.set_adapter({"default"});
  }

  model.set_adapter({"default"});
  model.merge_and_unload();
  EXPECT_TRUE(test::close(m.forward(input), expected.tensors.at("output_merged"), 1e-5, "merged model"));
  EXPECT_GT(test::relative_error(m.forward(input), base_out), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Golden, PeftModelCase,
                         ::testing::Values("mlp_two_adapters", "mlp_regex_bias_mts", "conv_block4", "emb_block_share",
                                           "tiny_lm_coft_two_adapters", "tiny_lm_all_linear_ltt",
                                           "tiny_lm_ltt_pattern_exclude"));

TEST(PeftTargeting, TableOfConfigsGivesPeftsModulesOrErrors) {
  std::ifstream in(kModels / "targeting.json");
  const json table = json::parse(in);
  ASSERT_GE(table["variants"].size(), 30u);
  for (const json& v : table["variants"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    test::NamedModel m = base_model(v["root"]);
    PlanOptions options;
    if (v["model_config"].is_object()) options.model_type = v["model_config"]["model_type"];
    if (v.contains("targeted")) {
      const OFTConfig config = OFTConfig::from_json(v["config_kwargs"]);
      EXPECT_EQ(sorted(plan_targets(*m.module, config, options).targets),
                v["targeted"].get<std::vector<std::string>>());
      if (config.modules_to_save) continue;  // PEFT wraps container modules our test models do not declare
      OFTModel model(m.module, config, {.info = ModelInfo{options.model_type}});
      EXPECT_EQ(model.count_parameters().trainable, v["counts"]["trainable_params"].get<int64_t>());
      EXPECT_EQ(model.count_parameters().total, v["counts"]["all_params"].get<int64_t>());
      continue;
    }
    // PEFT raised: ValueError family (config) -> ConfigError; TypeError (unsupported module) -> UsageError.
    const std::string message = v["message"];
    try {
      OFTModel model(m.module, OFTConfig::from_json(v["config_kwargs"]), {.info = ModelInfo{options.model_type}});
      ADD_FAILURE() << "expected an error like: " << message.substr(0, 80);
    } catch (const ConfigError& e) {
      EXPECT_NE(v["error_type"], "TypeError") << e.what();
      // Sets print in hash order in PEFT, so compare the text before the first brace.
      const std::string stem = message.substr(0, message.find_first_of("{\n"));
      EXPECT_EQ(std::string(e.what()).substr(0, stem.size()), stem);
    } catch (const UsageError& e) {
      EXPECT_EQ(v["error_type"], "TypeError") << e.what();
      EXPECT_NE(std::string(e.what()).find("no dispatcher claims module"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace oft
