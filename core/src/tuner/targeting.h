#pragma once
// Which modules get an adapter: PEFT's check_target_module_exists, its layer-index filter and its
// default target list per model_type.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "oft/adapter/config.h"
#include "oft/export.h"

namespace oft {

// PEFT's list rule: `key` is one of `names` or ends with "." + one of them.
OFT_CORE_API bool matches_name_or_suffix(const std::string& key, const std::vector<std::string>& names);

enum class TargetMatch { Target, NotTarget, Excluded };

// PEFT's rules for the module named `key` (dotted, relative to the wrapped model), in PEFT's order:
// exclude_modules, modules_to_save (never adapted), target regex (full match), exact name, then
// "."-suffix match filtered by layers_to_transform.
OFT_CORE_API TargetMatch match_target(const OFTConfig& config, const std::string& key);

// The transformer layer index in `key` ("model.layers.3.mlp" -> 3) by PEFT's regexes, with the
// given layers_pattern names or PEFT's default pattern.
OFT_CORE_API std::optional<int64_t> layer_index(const std::string& key,
                                                const std::optional<std::vector<std::string>>& layers_pattern);

// PEFT's TRANSFORMERS_MODELS_TO_OFT_TARGET_MODULES_MAPPING entry for a model_type, if any.
OFT_CORE_API std::optional<ModuleSelector> default_target_modules(const std::string& model_type);

}  // namespace oft
