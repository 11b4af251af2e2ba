// Adapters saved by oft load in the real PEFT and give oft's outputs. Runs the Python side
// (tests/golden/peft_forward.py) when PEFT is importable in the project's .venv (scripts/setup.sh
// --peers, as CI does); skips otherwise. The reverse direction (PEFT-saved adapters loading here)
// is test_oft_model_golden. Tolerance 1e-5 relative (fp32).
#include <cstdlib>
#include <filesystem>

#include <torch/csrc/autograd/grad_mode.h>

#include "oft/tuner/oft_model.h"
#include "test_models.h"
#include "test_support.h"

namespace oft {
namespace {

namespace fs = std::filesystem;

bool peft_importable() {
  static const bool ok = std::system((std::string(OFT_PYTHON) + " -c 'import peft' >/dev/null 2>&1").c_str()) == 0;
  return ok;
}

at::Tensor peft_output(const std::string& model, const fs::path& adapter_dir) {
  const fs::path out = adapter_dir / "peft_output.safetensors";
  const std::string cmd = "PYTHONHASHSEED=0 " + std::string(OFT_PYTHON) + " " + OFT_GOLDEN_SCRIPTS +
                          "/peft_forward.py " + model + " " + adapter_dir.string() + " " + out.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return safetensors::load(out).tensors.at("output");
}

void check_roundtrip(const std::string& model_name, const OFTConfig& config) {
  if (!peft_importable()) GTEST_SKIP() << "PEFT is not importable by " << OFT_PYTHON << " (scripts/setup.sh --peers)";
  const fs::path models = fs::path(OFT_GOLDEN_DIR) / "models";
  test::NamedModel m = test::make_model(model_name);
  test::load_parameters(*m.module, safetensors::load(models / model_name / "base.safetensors").tensors);
  m.module->eval();
  const at::Tensor input = safetensors::load(models / model_name / "input.safetensors").tensors.at("input");
  at::manual_seed(5);
  OFTModel model(m.module, config);
  torch::NoGradGuard no_grad;
  const at::Tensor ours = m.forward(input);

  const fs::path dir = fs::temp_directory_path() / ("oft_interop_" + model_name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  model.save_pretrained(dir);
  EXPECT_TRUE(test::close(peft_output(model_name, dir), ours, 1e-5, "PEFT output for oft's adapter"));
  fs::remove_all(dir);
}

TEST(PeftInterop, MlpAdapterSavedHereLoadsInPeft) {
  OFTConfig config;
  config.target_modules = ModuleSelector::from_names({"lin0", "lin1"});
  config.oft_block_size = 5;
  config.init_weights = false;
  config.bias = Bias::OftOnly;
  config.modules_to_save = std::vector<std::string>{"lin2"};
  check_roundtrip("mlp", config);
}

TEST(PeftInterop, TinyLmExactCayleyAdapterSavedHereLoadsInPeft) {
  OFTConfig config;
  config.target_modules = ModuleSelector::from_names({"q_proj", "v_proj", "embed_tokens"});
  config.oft_block_size = 4;
  config.init_weights = false;
  config.use_cayley_neumann = false;
  check_roundtrip("tiny_lm", config);
}

}  // namespace
}  // namespace oft
