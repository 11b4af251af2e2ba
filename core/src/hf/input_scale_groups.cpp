#include "oft/hf/input_scale_groups.h"

#include <set>

namespace oft::models {
namespace {

struct Rule {
  const char* producer;  // relative to the block
  InputScaleGroup::Producer kind;
  std::vector<const char*> readers;
};

const std::vector<Rule>& rules_for(const std::string& model_type) {
  using P = InputScaleGroup::Producer;
  static const std::vector<Rule> llama = {
      {"input_layernorm", P::Norm, {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
      {"post_attention_layernorm", P::Norm, {"mlp.gate_proj", "mlp.up_proj"}},
      {"mlp.up_proj", P::Linear, {"mlp.down_proj"}}};
  static const std::vector<Rule> gpt2 = {{"ln_1", P::Norm, {"attn.c_attn"}}, {"ln_2", P::Norm, {"mlp.c_fc"}}};
  static const std::vector<Rule> none;
  if (model_type == "llama" || model_type == "mistral" || model_type == "qwen2") return llama;
  if (model_type == "gpt2") return gpt2;
  return none;
}

// The block prefix ("model.layers.0.", or "" at the root) when `path` is the rule's producer.
bool block_of(const std::string& path, const std::string& producer, std::string& prefix) {
  if (path == producer) {
    prefix.clear();
    return true;
  }
  const std::string suffix = "." + producer;
  if (path.size() <= suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  prefix = path.substr(0, path.size() - producer.size());
  return true;
}

}  // namespace

std::vector<InputScaleGroup> input_scale_groups(const std::string& model_type,
                                                const std::vector<std::string>& module_paths) {
  const auto& rules = rules_for(model_type);
  const std::set<std::string> present(module_paths.begin(), module_paths.end());
  // Blocks in the order their first producer appears.
  std::vector<std::string> blocks;
  std::set<std::string> seen;
  for (const auto& path : module_paths)
    for (const auto& rule : rules) {
      std::string prefix;
      if (block_of(path, rule.producer, prefix) && seen.insert(prefix).second) blocks.push_back(prefix);
    }
  std::vector<InputScaleGroup> groups;
  for (const auto& prefix : blocks)
    for (const auto& rule : rules) {
      InputScaleGroup group{prefix + rule.producer, rule.kind, {}};
      bool complete = present.count(group.producer) != 0;
      for (const char* reader : rule.readers) {
        group.readers.push_back(prefix + reader);
        complete = complete && present.count(group.readers.back()) != 0;
      }
      if (complete) groups.push_back(std::move(group));
    }
  return groups;
}

}  // namespace oft::models
