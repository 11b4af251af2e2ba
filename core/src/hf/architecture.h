#pragma once
// What each architecture (bert.cpp, llama.cpp, gpt2.cpp) gives the checkpoint loader and saver.
#include <functional>
#include <memory>
#include <set>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

namespace oft::models::detail {

struct Architecture {
  std::shared_ptr<torch::nn::Module> module;
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&)> forward;
  std::string class_name;    // transformers' class, for messages
  std::string output_name;   // "logits" or "last_hidden_state"
  std::string output_layer;  // "lm_head" or ""
  // transformers' base_model_prefix ("transformer", "model", "bert"). Head models name their
  // parameters under it and load checkpoints of the bare base model (keys without it) by adding it;
  // base models (BERT) load checkpoints of head models by stripping it.
  std::string base_prefix;
  bool head_model = false;
  // Parameters that are the same tensor as another one and that transformers does not save
  // (lm_head.weight with tied embeddings).
  std::set<std::string> tied;
  // Checkpoint tensor name endings transformers drops without a warning (old GPT-2 mask buffers).
  std::set<std::string> ignored_suffixes;
};

struct BuildOptions {
  c10::Device device = c10::kCPU;
  bool bert_pooler = true;  // BertModel(add_pooling_layer=True), transformers' default
};

Architecture build_bert(const nlohmann::json& config, const BuildOptions& options);
Architecture build_llama(const nlohmann::json& config, const BuildOptions& options);  // llama, mistral, qwen2
Architecture build_gpt2(const nlohmann::json& config, const BuildOptions& options);
// By config["model_type"]; FormatError naming the type and the supported ones.
Architecture build_architecture(const nlohmann::json& config, const BuildOptions& options);

}  // namespace oft::models::detail
