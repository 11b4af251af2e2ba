#pragma once
// OFTModel: PEFT's OFTModel for LibTorch models. It finds the target modules of a model by PEFT's
// rules, asks the dispatchers to claim each one, replaces it in its parent with an OFT layer
// (parameter names as PEFT's: "<path>.base_layer.weight", "<path>.oft_R.<adapter>.weight"), and
// manages several adapters, merging, and saving/loading in PEFT's file format.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "oft/adapter/config.h"
#include "oft/adapter/oft_layer.h"
#include "oft/export.h"
#include "oft/nn/adaptable_module.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/tuner/model_info.h"
#include "oft/tuner/modules_to_save.h"

namespace oft {

// OFTModel's constructor and from_pretrained options (PEFT's keyword arguments).
struct OFTModelOptions {
  std::string adapter_name = "default";
  ModelInfo info;                                // from the model's config.json (load_pretrained fills it)
  std::shared_ptr<DispatcherRegistry> registry;  // nullptr: the built-in dispatcher only
  bool low_cpu_mem_usage = false;                // adapter weights on the meta device until loaded
  bool is_trainable = false;                     // from_pretrained: the loaded adapter trains
  // Eval forwards of dense bases with one cached folded weight per layer (OFTLayer::set_eval_weight_cache):
  // a bare GEMM's cost for one extra copy of each adapted weight.
  bool eval_weight_cache = true;
};

// load_adapter's options.
struct AdapterLoadOptions {
  bool is_trainable = false;
  bool low_cpu_mem_usage = false;
};

struct OFT_CORE_API ParameterCount {
  int64_t trainable = 0;
  int64_t total = 0;
  // PEFT's print_trainable_parameters line.
  std::string summary() const;
};

class OFT_CORE_API OFTModel {
 public:
  // Injects adapter `options.adapter_name` into `model` (modified in place).
  OFTModel(std::shared_ptr<torch::nn::Module> model, const OFTConfig& config, OFTModelOptions options = {});

  // PEFT's PeftModel.from_pretrained: the adapter saved in `dir` under `options.adapter_name`, active.
  static OFTModel from_pretrained(std::shared_ptr<torch::nn::Module> model, const std::filesystem::path& dir,
                                  OFTModelOptions options = {});

  torch::nn::Module& model() { return *model_; }
  std::shared_ptr<torch::nn::Module> model_ptr() { return model_; }
  const ModelInfo& info() const { return info_; }

  // --- adapters -----------------------------------------------------------------------------------
  // A second (third, ...) adapter; not active and not trainable until set_adapter names it.
  void add_adapter(const std::string& name, const OFTConfig& config, bool low_cpu_mem_usage = false);
  void set_adapter(const std::vector<std::string>& names);
  const std::vector<std::string>& active_adapters() const { return active_; }
  std::vector<std::string> adapter_names() const;
  const OFTConfig& config(const std::string& name) const;
  void delete_adapter(const std::string& name);
  // Modules that carry adapter `name` (default: any adapter), sorted.
  std::vector<std::string> targeted_module_names(const std::string& name = "") const;
  // Which dispatcher claimed each adapted module.
  const std::map<std::string, std::string>& claimed_by() const { return claimed_by_; }
  std::map<std::string, std::shared_ptr<OFTLayer>> oft_layers() const;

  // While alive, every OFT layer runs its base layer alone and nothing is trainable; afterwards
  // the active adapters are enabled and trainable again.
  class DisabledScope {
   public:
    explicit DisabledScope(OFTModel& model);
    ~DisabledScope();
    DisabledScope(const DisabledScope&) = delete;
    DisabledScope& operator=(const DisabledScope&) = delete;

   private:
    OFTModel& model_;
  };
  DisabledScope disable_adapters() { return DisabledScope(*this); }

  ParameterCount count_parameters() const;
  // Turns the eval weight cache of every OFT layer on or off (off frees the cached weights).
  void set_eval_weight_cache(bool enabled);

  // --- merging ------------------------------------------------------------------------------------
  // Why merging is refused for the whole model ("" when it is not): ModelInfo::merge_refusal or
  // replicated base layers.
  std::string model_merge_refusal() const;
  // Checks first (model_merge_refusal, any layer whose backend refuses), then merges.
  void merge_adapter(const MergeOptions& options = {});
  void unmerge_adapter();
  // Merges and puts the base layers back (modules_to_save: the active copy); returns the model.
  std::shared_ptr<torch::nn::Module> merge_and_unload(const MergeOptions& options = {});
  // Puts the original base layers back, unmerging first (PEFT would leave merged weights in place).
  std::shared_ptr<torch::nn::Module> unload();

  // --- files --------------------------------------------------------------------------------------
  // PEFT's layout: adapter "default" in dir/, others in dir/<name>/; adapter_config.json and
  // adapter_model.safetensors with keys "base_model.model.<module>.oft_R.weight" (no adapter name).
  void save_pretrained(const std::filesystem::path& dir,
                       std::optional<std::vector<std::string>> adapters = std::nullopt) const;
  // Loads an adapter saved by PEFT or by save_pretrained under `name` (not activated).
  void load_adapter(const std::filesystem::path& dir, const std::string& name, const AdapterLoadOptions& options = {});

 private:
  void inject(const std::string& name, OFTConfig& config, bool low_cpu_mem_usage);
  void check_merge_allowed() const;
  void mark_trainable();
  // The oft::AdaptableModule parent of `path` that declared it with register_layer; UsageError otherwise.
  std::shared_ptr<AdaptableModule> replaceable_parent(const std::string& path) const;
  void check_replaceable(const std::string& path) const;
  void replace_child(const std::string& path, std::shared_ptr<torch::nn::Module> replacement);
  // Adapter `name`'s tensors under their file keys without the "base_model.model." prefix: the
  // rotations, trainable biases and modules_to_save copies (the live parameters, not copies).
  std::map<std::string, at::Tensor> adapter_parameters(const std::string& name) const;
  void load_weights(const std::filesystem::path& dir, const std::string& name, bool is_trainable);
  void restore_base_layers();

  std::shared_ptr<torch::nn::Module> model_;
  ModelInfo info_;
  std::shared_ptr<DispatcherRegistry> registry_;
  std::map<std::string, OFTConfig> configs_;
  std::vector<std::string> active_;
  std::map<std::string, std::string> claimed_by_;
  std::map<std::string, std::shared_ptr<OFTLayer>> layers_;          // path -> OFT layer
  std::map<std::string, std::shared_ptr<ModulesToSaveImpl>> saved_;  // path -> modules_to_save wrapper
  std::map<std::string, std::vector<std::string>> targets_;          // adapter -> module paths
  std::map<std::string, bool> inference_mode_;                       // adapter -> loaded frozen
  bool enabled_ = true;
  bool eval_weight_cache_ = true;
};

}  // namespace oft
