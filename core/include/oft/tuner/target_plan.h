#pragma once
// Which modules of a model an adapter config selects, with PEFT's errors when nothing does: the
// planning half of injection, with no side effects (also what `oft plan` shows).
#include <functional>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "oft/adapter/config.h"
#include "oft/export.h"

namespace oft {

struct TargetPlan {
  OFTConfig config;                          // target_modules resolved (default table, "all-linear")
  std::vector<std::string> targets;          // modules that get the adapter, in model order
  std::vector<std::string> modules_to_save;  // modules that get a trainable copy
};

struct PlanOptions {
  std::string model_type = "custom";  // for the default target list
  std::string output_layer;           // left out of "all-linear"
  // Modules to pass over entirely (e.g. inside layers that already carry adapters).
  std::function<bool(const std::string&)> skip = [](const std::string&) { return false; };
};

// Throws ConfigError with PEFT's messages when no module is targeted or target_modules is unset
// for an unknown model_type.
OFT_CORE_API TargetPlan plan_targets(const torch::nn::Module& model, const OFTConfig& config,
                                     const PlanOptions& options);

}  // namespace oft
