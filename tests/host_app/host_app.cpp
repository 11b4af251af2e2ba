// A host application as its developer writes one against the installed oft package: it loads the
// plugins its JSON host config names, loads a small Hugging Face checkpoint, adapts it with OFT
// through the loaded dispatchers and runs a forward. It checks that OFT at initialization is the
// identity (the adapted model gives the base model's output) and that the OFT layers are in the
// forward path (a non-zero adapter changes the output).
//   oft_host_app HOST_CONFIG MODEL_DIR
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/config.h"
#include "oft/hf/pretrained.h"
#include "oft/plugin/plugin_host.h"
#include "oft/plugin/plugin_settings.h"
#include "oft/tuner/oft_model.h"

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "oft_host_app: %s\n", what.c_str());
  return 1;
}

int run(const std::filesystem::path& host_config, const std::filesystem::path& model_dir) {
  oft::PluginHostOptions options;
  options.settings = oft::read_plugin_settings(host_config);
  options.safe_scan = options.settings.safe_scan.value_or(true);
  const oft::PluginHostResult plugins = oft::load_plugins(options);  // PluginError if a required one did not load
  for (const auto& file : plugins.files)
    std::printf("plugin %s: %s %s\n", file.file.c_str(), oft::to_string(file.status).c_str(), file.reason.c_str());

  oft::models::LoadOptions load;
  load.formats = plugins.formats;
  const oft::models::Pretrained model = oft::models::load_pretrained(model_dir, load);
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  const at::Tensor input_ids = at::randint(model.config.at("vocab_size").get<int64_t>(), {2, 6}, at::kLong);
  const at::Tensor attention_mask = at::ones({2, 6}, at::kLong);
  const at::Tensor base = model.forward(input_ids, attention_mask);

  oft::OFTConfig config;  // target_modules unset: PEFT's default for the model type
  config.oft_block_size = 8;
  oft::OFTModel adapted(model.module, config, {.info = model.info, .registry = plugins.registry});
  if (adapted.targeted_module_names().empty()) return fail("OFT adapted no module of " + model_dir.string());
  for (const auto& [path, dispatcher] : adapted.claimed_by())
    std::printf("%s claimed by %s\n", path.c_str(), dispatcher.c_str());

  const at::Tensor identity = model.forward(input_ids, attention_mask);
  const double identity_diff = (identity - base).abs().max().item<double>();
  if (identity_diff > 1e-5) return fail("OFT at initialization changed the output by " + std::to_string(identity_diff));
  int adapters = 0;
  for (const auto& parameter : model.module->named_parameters()) {
    if (parameter.key().find(".oft_R.default.") == std::string::npos) continue;
    parameter.value().normal_(0.0, 0.1);
    ++adapters;
  }
  const double rotated_diff = (model.forward(input_ids, attention_mask) - base).abs().max().item<double>();
  if (rotated_diff < 1e-4) return fail("a non-zero adapter left the output unchanged: OFT is not in the forward path");
  std::printf("%s: %zu modules adapted (%d adapter weights), %zu dispatchers registered; %s\n",
              model.info.model_type.c_str(), adapted.targeted_module_names().size(), adapters,
              plugins.dispatchers.size(), adapted.count_parameters().summary().c_str());
  std::printf("output difference from the base model: %.2e at initialization, %.2e with rotated adapters\n",
              identity_diff, rotated_diff);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail("usage: oft_host_app HOST_CONFIG MODEL_DIR");
  try {
    return run(argv[1], argv[2]);
  } catch (const std::exception& error) {
    return fail(error.what());
  }
}
