#include "oft/tuner/target_plan.h"

#include <algorithm>
#include <cctype>

#include "nn/module_types.h"
#include "oft/errors.h"
#include "oft/log.h"
#include "tuner/targeting.h"

namespace oft {
namespace {

bool is_all_linear(const ModuleSelector& s) {
  if (s.kind != ModuleSelector::Kind::Regex) return false;
  std::string lower = s.regex;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower == "all-linear";
}

bool is_linear(const std::shared_ptr<torch::nn::Module>& m) {
  auto type = module_type_of(m);
  return type && type->linear;
}

std::string describe(const ModuleSelector& targets) {
  if (targets.kind == ModuleSelector::Kind::Regex) return targets.regex;  // PEFT prints the string as is
  std::string out = "{";
  for (const auto& n : targets.names) out += (out.size() > 1 ? ", '" : "'") + n + "'";
  return out + "}";
}

std::string layer_filter_notes(const OFTConfig& c) {
  std::string notes;
  if (c.layers_to_transform) {
    notes += " Note: You specified 'layers_to_transform': [";
    for (size_t i = 0; i < c.layers_to_transform->size(); ++i)
      notes += (i ? ", " : "") + std::to_string((*c.layers_to_transform)[i]);
    notes += "].";
  }
  if (c.layers_pattern) {
    notes += " You also specified 'layers_pattern': [";
    for (size_t i = 0; i < c.layers_pattern->size(); ++i) notes += (i ? ", '" : "'") + (*c.layers_pattern)[i] + "'";
    notes += "].";
  }
  return notes;
}

}  // namespace

TargetPlan plan_targets(const torch::nn::Module& model, const OFTConfig& config, const PlanOptions& options) {
  TargetPlan plan{config, {}, {}};
  OFTConfig& c = plan.config;
  if (!c.target_modules.is_set()) {
    auto defaults = default_target_modules(options.model_type);
    if (!defaults)
      throw ConfigError("Please specify `target_modules` in `peft_config` (model_type '" + options.model_type +
                        "' has no default OFT target list)");
    c.target_modules = *defaults;
  }
  const auto modules = model.named_modules("", /*include_self=*/false);
  if (is_all_linear(c.target_modules)) {
    // PEFT replaces "all-linear" by the full names of every linear layer except the output layer.
    std::vector<std::string> names;
    for (const auto& item : modules)
      if (!options.skip(item.key()) && item.key() != options.output_layer && is_linear(item.value()))
        names.push_back(item.key());
    c.target_modules = ModuleSelector::from_names(names);
  }

  int excluded = 0, unmatched = 0;
  for (const auto& item : modules) {
    const auto& key = item.key();
    if (options.skip(key)) continue;
    // PEFT wraps every module whose name ends with a modules_to_save entry (no "." boundary).
    if (c.modules_to_save &&
        std::any_of(c.modules_to_save->begin(), c.modules_to_save->end(), [&](const std::string& m) {
          return key.size() >= m.size() && key.compare(key.size() - m.size(), m.size(), m) == 0;
        }))
      plan.modules_to_save.push_back(key);
    switch (match_target(c, key)) {
      case TargetMatch::Target: plan.targets.push_back(key); break;
      case TargetMatch::Excluded: ++excluded; break;
      case TargetMatch::NotTarget: ++unmatched; break;
    }
  }
  if (plan.targets.empty()) {
    if (excluded > 0 && unmatched == 0)
      throw ConfigError(
          "All modules were excluded. This is likely unintended. Check your `target_modules`, "
          "`exclude_modules` and `modules_to_save` configuration.");
    if (excluded == 0 && c.target_modules.kind == ModuleSelector::Kind::Names && c.target_modules.names.empty())
      throw ConfigError(
          "No `target_modules` passed but also no `target_parameters` found. Please check the values "
          "for these arguments.");
    if (excluded == 0)
      throw ConfigError("Target modules " + describe(c.target_modules) +
                        " not found in the base model. Please check the target modules and try again." +
                        layer_filter_notes(c));
    throw ConfigError(
        "No modules were targeted for adaptation. This might be caused by a combination of mismatched "
        "target modules and excluded modules. Please check your `target_modules` and `exclude_modules` "
        "configuration. You may also have only targeted modules that are marked to be saved "
        "(`modules_to_save`)." +
        layer_filter_notes(c));
  }
  if (c.exclude_modules.is_set() && excluded == 0)
    logger()->warn(
        "You have passed exclude_modules={} but no modules were excluded. Please check that exclude_modules "
        "was set correctly.",
        describe(c.exclude_modules));
  return plan;
}

}  // namespace oft
