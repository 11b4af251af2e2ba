#include "tuner/targeting.h"

#include <algorithm>
#include <map>
#include <regex>

namespace oft {
namespace {

bool ends_with_segment(const std::string& key, const std::string& name) {
  return key.size() > name.size() && key.compare(key.size() - name.size(), name.size(), name) == 0 &&
         key[key.size() - name.size() - 1] == '.';
}

bool matches_selector(const ModuleSelector& selector, const std::string& key) {
  if (selector.kind == ModuleSelector::Kind::Regex) return std::regex_match(key, std::regex(selector.regex));
  return matches_name_or_suffix(key, selector.names);
}

// Python's re.match: anchored at the start, not at the end.
std::optional<int64_t> first_group_as_index(const std::string& key, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(key, m, std::regex(pattern), std::regex_constants::match_continuous)) return std::nullopt;
  return std::stoll(m[1].str());
}

}  // namespace

bool matches_name_or_suffix(const std::string& key, const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return key == n || ends_with_segment(key, n); });
}

std::optional<int64_t> layer_index(const std::string& key,
                                   const std::optional<std::vector<std::string>>& layers_pattern) {
  if (!layers_pattern || layers_pattern->empty()) return first_group_as_index(key, R"(.*?\.[^.]*\.(\d+)\.)");
  for (const auto& p : *layers_pattern)
    if (auto index = first_group_as_index(key, "(?:^|.*?\\.)" + p + R"(\.(\d+)\.)")) return index;
  return std::nullopt;
}

TargetMatch match_target(const OFTConfig& config, const std::string& key) {
  if (config.exclude_modules.is_set() && matches_selector(config.exclude_modules, key)) return TargetMatch::Excluded;
  if (config.modules_to_save)
    for (const auto& m : *config.modules_to_save)
      if (std::regex_match(key, std::regex("(^|.*\\.)" + m + "($|\\..*)"))) return TargetMatch::Excluded;

  const ModuleSelector& targets = config.target_modules;
  if (targets.kind == ModuleSelector::Kind::Regex)
    return std::regex_match(key, std::regex(targets.regex)) ? TargetMatch::Target : TargetMatch::NotTarget;
  if (std::find(targets.names.begin(), targets.names.end(), key) != targets.names.end()) return TargetMatch::Target;
  const bool suffix = std::any_of(targets.names.begin(), targets.names.end(),
                                  [&](const std::string& t) { return ends_with_segment(key, t); });
  if (!suffix) return TargetMatch::NotTarget;
  if (!config.layers_to_transform || config.layers_to_transform->empty()) return TargetMatch::Target;
  const auto index = layer_index(key, config.layers_pattern);
  if (!index) return TargetMatch::NotTarget;
  const auto& wanted = *config.layers_to_transform;
  return std::find(wanted.begin(), wanted.end(), *index) != wanted.end() ? TargetMatch::Target : TargetMatch::NotTarget;
}

std::optional<ModuleSelector> default_target_modules(const std::string& model_type) {
  // PEFT's TRANSFORMERS_MODELS_TO_OFT_TARGET_MODULES_MAPPING (peft/utils/constants.py, a copy of LoRA's).
  static const std::map<std::string, std::vector<std::string>> table = {
      {"t5", {"q", "v"}},
      {"mt5", {"q", "v"}},
      {"bart", {"q_proj", "v_proj"}},
      {"gpt2", {"c_attn"}},
      {"bloom", {"query_key_value"}},
      {"blip-2", {"q", "v", "q_proj", "v_proj"}},
      {"opt", {"q_proj", "v_proj"}},
      {"gptj", {"q_proj", "v_proj"}},
      {"gpt_neox", {"query_key_value"}},
      {"gpt_neo", {"q_proj", "v_proj"}},
      {"bert", {"query", "value"}},
      {"roberta", {"query", "value"}},
      {"xlm-roberta", {"query", "value"}},
      {"electra", {"query", "value"}},
      {"deberta-v2", {"query_proj", "value_proj"}},
      {"deberta", {"in_proj"}},
      {"layoutlm", {"query", "value"}},
      {"llama", {"q_proj", "v_proj"}},
      {"llama4", {"q_proj", "v_proj"}},
      {"chatglm", {"query_key_value"}},
      {"mpt", {"Wqkv"}},
      {"RefinedWebModel", {"query_key_value"}},
      {"RefinedWeb", {"query_key_value"}},
      {"falcon", {"query_key_value"}},
      {"btlm", {"c_proj", "c_attn"}},
      {"codegen", {"qkv_proj"}},
      {"mistral", {"q_proj", "v_proj"}},
      {"mixtral", {"q_proj", "v_proj"}},
      {"stablelm", {"q_proj", "v_proj"}},
      {"phi", {"q_proj", "v_proj", "fc1", "fc2"}},
      {"gemma", {"q_proj", "v_proj"}},
      {"gemma2", {"q_proj", "v_proj"}},
      {"gemma3_text", {"q_proj", "v_proj"}},
      {"qwen2", {"q_proj", "v_proj"}},
      {"qwen3", {"q_proj", "v_proj"}},
      {"nemotron_h", {"q_proj", "k_proj", "v_proj", "o_proj"}},
      {"rwkv", {"key", "value", "receptance", "output"}},
      {"rwkv7", {"r_proj", "k_proj", "v_proj", "o_proj", "key", "value"}},
      {"gpt_bigcode", {"c_attn"}},
  };
  if (model_type == "gemma4") return ModuleSelector::from_regex(R"(.*language_model\..*\.(q_proj|v_proj))");
  auto it = table.find(model_type);
  if (it == table.end()) return std::nullopt;
  return ModuleSelector::from_names(it->second);
}

}  // namespace oft
