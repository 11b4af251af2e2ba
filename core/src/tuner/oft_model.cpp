// OFTModel: injection and adapter management.
#include "oft/tuner/oft_model.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "oft/errors.h"
#include "oft/log.h"
#include "oft/nn/adaptable_module.h"
#include "oft/tuner/target_plan.h"

namespace oft {
namespace {

std::string parent_of(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? "" : path.substr(0, dot);
}

std::string child_of(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

bool is_within(const std::string& key, const std::string& prefix) {
  return key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 && key[prefix.size()] == '.';
}

}  // namespace

std::string ParameterCount::summary() const {
  auto with_commas = [](int64_t v) {
    std::string s = std::to_string(v);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
    return s;
  };
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.4f",
                total ? 100.0 * static_cast<double>(trainable) / static_cast<double>(total) : 0.0);
  return "trainable params: " + with_commas(trainable) + " || all params: " + with_commas(total) +
         " || trainable%: " + pct;
}

OFTModel::OFTModel(std::shared_ptr<torch::nn::Module> model, const OFTConfig& config, OFTModelOptions options)
    : model_(std::move(model)),
      info_(std::move(options.info)),
      registry_(options.registry ? std::move(options.registry) : DispatcherRegistry::with_default()),
      eval_weight_cache_(options.eval_weight_cache) {
  if (!model_) throw UsageError("OFTModel needs a model, got null");
  active_ = {options.adapter_name};
  OFTConfig resolved = config;
  inject(options.adapter_name, resolved, options.low_cpu_mem_usage);
}

void OFTModel::add_adapter(const std::string& name, const OFTConfig& config, bool low_cpu_mem_usage) {
  if (configs_.count(name)) throw UsageError("Adapter with name '" + name + "' already exists.");
  OFTConfig resolved = config;
  inject(name, resolved, low_cpu_mem_usage);
}

void OFTModel::inject(const std::string& name, OFTConfig& config, bool low_cpu_mem_usage) {
  if (name.empty()) throw UsageError("adapter name must not be empty");
  config.validate();
  if (config.bias != Bias::None)
    for (const auto& [other, c] : configs_)
      if (c.bias != Bias::None)
        throw ConfigError(
            "OFTModel supports only 1 adapter with bias. When using multiple adapters, set bias to 'none' "
            "for all adapters.");
  auto inside_adapted = [&](const std::string& key) {
    for (const auto& [path, layer] : layers_)
      if (is_within(key, path)) return true;
    for (const auto& [path, wrapper] : saved_)
      if (is_within(key, path)) return true;
    return false;
  };
  TargetPlan plan = plan_targets(*model_, config, {info_.model_type, info_.output_layer, inside_adapted});
  config = plan.config;
  const std::vector<std::string>& matched = plan.targets;
  const auto modules = model_->named_modules("", /*include_self=*/false);

  // Everything that can fail happens before the model changes: dispatching and building the new
  // layers and modules_to_save wrappers, checking that every parent can take its replacement, and
  // adding the adapter to layers and wrappers that already exist (undone on failure).
  const sdk::DispatchContext context{info_.quantization_config_json};
  struct NewLayer {
    std::string path, dispatcher;
    std::shared_ptr<OFTLayer> layer;
  };
  std::vector<NewLayer> created;
  std::vector<std::pair<std::string, std::shared_ptr<ModulesToSaveImpl>>> created_wrappers;
  for (const auto& key : matched) {
    if (layers_.count(key)) continue;
    const auto module = modules[key];
    DispatchResult result = registry_->dispatch({key, module}, context);
    auto layer = result.claim.make_oft_layer();
    layer->set_label("'" + key + "'");
    layer->add_adapter(name, config, low_cpu_mem_usage);
    layer->train(module->is_training());
    layer->set_eval_weight_cache(eval_weight_cache_);
    check_replaceable(key);
    created.push_back({key, result.dispatcher, std::move(layer)});
  }
  for (const auto& key : plan.modules_to_save) {
    if (saved_.count(key)) continue;
    auto wrapper = std::make_shared<ModulesToSaveImpl>(modules[key]);
    wrapper->add_adapter(name);
    check_replaceable(key);
    created_wrappers.emplace_back(key, std::move(wrapper));
  }
  std::vector<std::shared_ptr<OFTLayer>> extended;
  std::vector<std::shared_ptr<ModulesToSaveImpl>> extended_wrappers;
  try {
    for (const auto& key : matched)
      if (auto it = layers_.find(key); it != layers_.end()) {
        it->second->add_adapter(name, config, low_cpu_mem_usage);
        extended.push_back(it->second);
      }
    for (const auto& key : plan.modules_to_save)
      if (auto it = saved_.find(key); it != saved_.end()) {
        it->second->add_adapter(name);
        extended_wrappers.push_back(it->second);
      }
  } catch (...) {
    for (auto& layer : extended) layer->delete_adapter(name);
    for (auto& wrapper : extended_wrappers) wrapper->delete_adapter(name);
    throw;
  }
  for (auto& [path, dispatcher, layer] : created) {
    replace_child(path, layer);
    layers_[path] = layer;
    claimed_by_[path] = dispatcher;
  }
  for (auto& [path, wrapper] : created_wrappers) {
    replace_child(path, wrapper);
    saved_[path] = wrapper;
  }
  configs_[name] = config;
  targets_[name] = matched;
  inference_mode_[name] = config.inference_mode;
  mark_trainable();
}

std::shared_ptr<AdaptableModule> OFTModel::replaceable_parent(const std::string& path) const {
  const std::string parent_path = parent_of(path);
  std::shared_ptr<torch::nn::Module> parent = model_;
  if (!parent_path.empty()) parent = model_->named_modules("", false)[parent_path];
  auto replaceable = std::dynamic_pointer_cast<AdaptableModule>(parent);
  const std::string child = child_of(path);
  if (!replaceable || !replaceable->has_layer(child))
    throw UsageError("cannot replace module '" + path + "': its parent " +
                     (parent_path.empty() ? std::string("(the model)") : "'" + parent_path + "'") + " of type " +
                     parent->name() +
                     " does not declare it as replaceable. Derive the parent from oft::AdaptableModule and "
                     "register the layer with register_layer(\"" +
                     child + "\", slot, layer).");
  return replaceable;
}

void OFTModel::check_replaceable(const std::string& path) const { replaceable_parent(path); }

void OFTModel::replace_child(const std::string& path, std::shared_ptr<torch::nn::Module> replacement) {
  replaceable_parent(path)->replace_layer(child_of(path), std::move(replacement));
}

void OFTModel::mark_trainable() {
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
  for (auto& [path, layer] : layers_) layer->set_adapter(active_);  // active adapters become trainable
  for (auto& [path, wrapper] : saved_) wrapper->set_adapter(active_);
  for (auto& [path, layer] : layers_)
    for (const auto& adapter : layer->adapter_names())
      if (!enabled_ || inference_mode_[adapter]) layer->rotation(adapter)->weight.set_requires_grad(false);
  for (auto& [path, wrapper] : saved_)
    for (const auto& adapter : active_)
      if (wrapper->has_adapter(adapter) && (!enabled_ || inference_mode_[adapter]))
        for (auto& p : wrapper->copy(adapter)->parameters()) p.set_requires_grad(false);
  if (!enabled_) return;
  for (const auto& adapter : active_) {
    const Bias bias = configs_.at(adapter).bias;
    if (bias == Bias::All) {
      for (auto& item : model_->named_parameters())
        if (item.key() == "bias" ||
            (item.key().size() > 5 && item.key().compare(item.key().size() - 5, 5, ".bias") == 0))
          item.value().set_requires_grad(true);
    } else if (bias == Bias::OftOnly) {
      for (auto& [path, layer] : layers_) {
        // find() points into the dict: it must outlive the pointer (ASan found a use after free here).
        const auto params = layer->base_module()->named_parameters(false);
        if (const auto* b = params.find("bias")) b->set_requires_grad(true);
      }
    }
  }
}

void OFTModel::set_adapter(const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (!configs_.count(n)) throw UsageError("Adapter " + n + " not found.");
  for (const auto& [path, wrapper] : saved_) {
    int copies = 0;
    for (const auto& n : names) copies += wrapper->has_adapter(n);
    if (copies > 1)
      throw UsageError("cannot activate several adapters that each have a modules_to_save copy of '" + path +
                       "' (PEFT refuses this too): only one copy can run");
  }
  for (auto& [path, layer] : layers_)
    if (layer->merged()) {
      logger()->warn("Adapter cannot be set when the model is merged. Unmerging the model first.");
      layer->unmerge();
    }
  active_ = names;
  mark_trainable();
}

std::vector<std::string> OFTModel::adapter_names() const {
  std::vector<std::string> names;
  for (const auto& [name, config] : configs_) names.push_back(name);
  return names;
}

const OFTConfig& OFTModel::config(const std::string& name) const {
  auto it = configs_.find(name);
  if (it == configs_.end()) throw UsageError("Adapter " + name + " not found.");
  return it->second;
}

void OFTModel::delete_adapter(const std::string& name) {
  if (!configs_.count(name)) throw UsageError("Adapter " + name + " does not exist");
  for (const auto& [path, layer] : layers_) {
    const auto& merged = layer->merged_adapters();
    if (std::find(merged.begin(), merged.end(), name) != merged.end())
      throw UsageError("Cannot delete adapter(s) ['" + name + "'] while they are merged. Please unmerge them first.");
  }
  for (auto& [path, layer] : layers_)
    if (layer->has_adapter(name)) layer->delete_adapter(name);
  for (auto& [path, wrapper] : saved_) wrapper->delete_adapter(name);
  configs_.erase(name);
  targets_.erase(name);
  inference_mode_.erase(name);
  const bool was_active = std::find(active_.begin(), active_.end(), name) != active_.end();
  active_.erase(std::remove(active_.begin(), active_.end(), name), active_.end());
  if (was_active && active_.empty() && !configs_.empty()) {
    active_ = {configs_.begin()->first};  // alphabetically first, as PEFT
    logger()->warn("Adapter {} was active which is now deleted. Setting active adapter to {}.", name, active_.front());
  }
  mark_trainable();
}

std::vector<std::string> OFTModel::targeted_module_names(const std::string& name) const {
  std::set<std::string> names;
  for (const auto& [adapter, paths] : targets_)
    if (name.empty() || adapter == name) names.insert(paths.begin(), paths.end());
  return {names.begin(), names.end()};
}

std::map<std::string, std::shared_ptr<OFTLayer>> OFTModel::oft_layers() const { return layers_; }

void OFTModel::set_eval_weight_cache(bool enabled) {
  eval_weight_cache_ = enabled;
  for (auto& [path, layer] : layers_) layer->set_eval_weight_cache(enabled);
}

OFTModel::DisabledScope::DisabledScope(OFTModel& model) : model_(model) {
  model_.enabled_ = false;
  for (auto& [path, layer] : model_.layers_) layer->enable_adapters(false);
  for (auto& [path, wrapper] : model_.saved_) wrapper->enable_adapters(false);
  model_.mark_trainable();
}

OFTModel::DisabledScope::~DisabledScope() {
  model_.enabled_ = true;
  for (auto& [path, layer] : model_.layers_) layer->enable_adapters(true);
  for (auto& [path, wrapper] : model_.saved_) wrapper->enable_adapters(true);
  model_.mark_trainable();
}

ParameterCount OFTModel::count_parameters() const {
  ParameterCount count;
  std::set<const void*> seen;  // tied parameters count once
  for (const auto& p : model_->parameters()) {
    if (!seen.insert(p.unsafeGetTensorImpl()).second) continue;
    count.total += p.numel();
    if (p.requires_grad()) count.trainable += p.numel();
  }
  return count;
}

}  // namespace oft
