// OFTModel: merging adapters into the base weights and putting the base layers back.
#include "oft/errors.h"
#include "oft/nn/adaptable_module.h"
#include "oft/tuner/oft_model.h"

namespace oft {

std::string OFTModel::model_merge_refusal() const {
  if (!info_.merge_refusal.empty()) return info_.merge_refusal;
  if (info_.layers_replicated) return "Cannot merge OFT layers when base model layers are replicated";
  return "";
}

void OFTModel::check_merge_allowed() const {
  if (const std::string refusal = model_merge_refusal(); !refusal.empty()) throw UsageError(refusal);
  for (const auto& [path, layer] : layers_) {
    const sdk::MergePolicy policy = layer->merge_policy();
    if (policy.mode == sdk::MergeMode::Refused)
      throw UsageError("Cannot merge OFT layer '" + path + "' (dispatcher " + claimed_by_.at(path) +
                       "): " + policy.reason);
  }
}

void OFTModel::merge_adapter(const MergeOptions& options) {
  check_merge_allowed();  // before touching any weight
  const std::vector<std::string> to_merge = options.adapter_names.value_or(active_);
  for (const auto& n : to_merge)
    if (!configs_.count(n)) throw UsageError("Adapter " + n + " not found.");
  for (auto& [path, layer] : layers_) layer->merge({options.safe_merge, to_merge});
}

void OFTModel::unmerge_adapter() {
  for (auto& [path, layer] : layers_)
    if (layer->merged()) layer->unmerge();
}

void OFTModel::restore_base_layers() {
  for (auto& [path, layer] : layers_) replace_child(path, layer->base_module());
  for (auto& [path, wrapper] : saved_) replace_child(path, wrapper->current());
  layers_.clear();
  saved_.clear();
  configs_.clear();
  targets_.clear();
  claimed_by_.clear();
  active_.clear();
}

std::shared_ptr<torch::nn::Module> OFTModel::merge_and_unload(const MergeOptions& options) {
  merge_adapter(options);
  restore_base_layers();
  return model_;
}

std::shared_ptr<torch::nn::Module> OFTModel::unload() {
  unmerge_adapter();
  restore_base_layers();  // modules_to_save: the active trained copy, as PEFT
  return model_;
}

}  // namespace oft
