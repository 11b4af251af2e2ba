#pragma once
// Hugging Face models in LibTorch: GPT-2 (GPT2LMHeadModel), the LLaMA family (LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM) and BERT (BertModel), built with transformers' module names
// from replaceable layers (oft::AdaptableModule::register_layer), so parameter names equal transformers'
// state-dict keys, PEFT's target names match, and OFTModel can adapt them.
//
// load_pretrained reads a model folder as transformers writes it: config.json, and model.safetensors
// or model-0000x-of-0000y.safetensors shards with model.safetensors.index.json, in fp32/fp16/bf16.
// Quantized checkpoints (config.json "quantization_config") load their linear modules through the
// FormatRegistry (backend plugins). save_pretrained writes a folder transformers loads.
//
// Inference semantics: no dropout, no KV cache (oft/hf/generation.h decodes with one); positions are 0..T-1 for every
// row (as transformers without position_ids, also for left padding). Not supported, each a FormatError naming the key:
// RoPE types other than default / linear / llama3 (dynamic, yarn, longrope), partial rotary factors,
// Qwen2's use_sliding_window, BERT's relative position embeddings and decoder mode, GPT-2's
// reorder_and_upcast_attn and cross-attention, pytorch_model.bin checkpoints. A quantized checkpoint
// loaded on the meta device is built dense (its tensors are not read).
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "oft/export.h"
#include "oft/plugin/format_registry.h"
#include "oft/tuner/model_info.h"

namespace oft::models {

struct LoadOptions {
  c10::Device device = c10::kCPU;                 // meta: build the tree only, read no tensors
  std::optional<c10::ScalarType> dtype;           // default: the checkpoint's float dtype
  std::shared_ptr<const FormatRegistry> formats;  // quantized linear formats (plugins); may be null
};

struct Pretrained {
  std::shared_ptr<torch::nn::Module> module;  // the root; named_parameters() == transformers' state-dict keys
  ModelInfo info;           // model_type, output_layer ("lm_head" or ""), quantization_method/config, name_or_path
  nlohmann::json config;    // config.json as read
  std::string output_name;  // "logits" (causal LMs) or "last_hidden_state" (BERT)
  // input_ids int64 (B, T); attention_mask (B, T) of 0/1 or an undefined tensor -> output (B, T, V or H).
  // Calls the layers through their LayerSlots, so it runs the OFT layers after OFTModel injected them.
  std::function<at::Tensor(const at::Tensor& input_ids, const at::Tensor& attention_mask)> forward;
};

// FormatError naming the file, tensor or config key for: no config.json / unsupported model_type or
// setting / no model.safetensors nor index / missing or mis-shaped tensors / a quantized checkpoint
// without a format for it. Tensors the model does not use are listed in a warning.
OFT_CORE_API Pretrained load_pretrained(const std::filesystem::path& dir, const LoadOptions& options = {});

// A randomly initialized model for `config` on `device` (meta: no storage at all).
OFT_CORE_API Pretrained from_config(const nlohmann::json& config, c10::Device device = c10::kCPU);

// config.json + model.safetensors with transformers' names; tied weights are saved once, as transformers
// does. Quantized layers are saved through `formats`. With `companions_from` (the folder the model came
// from), its tokenizer and generation files (oft/hf/companion_files.h) are copied too. The folder is
// written aside and renamed into place whole. UsageError for a model that still holds OFT layers
// (merge_and_unload first) or has tensors on the meta device.
OFT_CORE_API void save_pretrained(const Pretrained& model, const std::filesystem::path& dir,
                                  const FormatRegistry* formats = nullptr,
                                  const std::filesystem::path& companions_from = {});

// The model_type values load_pretrained and from_config accept.
OFT_CORE_API const std::vector<std::string>& supported_model_types();

}  // namespace oft::models
