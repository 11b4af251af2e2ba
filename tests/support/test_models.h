#pragma once
// Small models defined exactly as in tests/golden/gen_oft_models.py (same module names and shapes),
// built from replaceable layers so OFTModel can adapt them.
#include <memory>
#include <string>

#include <torch/nn/modules/container/modulelist.h>

#include "oft/nn/adaptable_module.h"

namespace oft::test {

struct MlpModel : AdaptableModule {
  LayerSlot lin0, lin1, lin2;
  MlpModel();
  at::Tensor forward(const at::Tensor& x);
};

struct ConvModel : AdaptableModule {
  LayerSlot conv0, conv1, head;
  ConvModel();
  at::Tensor forward(const at::Tensor& x);
};

struct EmbModel : AdaptableModule {
  LayerSlot emb, lin;
  EmbModel();
  at::Tensor forward(const at::Tensor& ids);
};

struct Attention : AdaptableModule {
  LayerSlot q_proj, k_proj, v_proj, o_proj;
  explicit Attention(int64_t hidden);
};

struct FeedForward : AdaptableModule {
  LayerSlot up_proj, down_proj;
  FeedForward(int64_t hidden, int64_t intermediate);
};

struct Block : torch::nn::Module {
  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<FeedForward> mlp;
  Block(int64_t hidden, int64_t intermediate);
  at::Tensor forward(const at::Tensor& h);
};

// The decoder stack: embed_tokens + layers (a ModuleList of Blocks), as "model" in tiny_lm.
struct Decoder : AdaptableModule {
  LayerSlot embed_tokens;
  torch::nn::ModuleList layers;
  Decoder(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t num_layers);
  at::Tensor forward(const at::Tensor& ids);
};

struct TinyLm : AdaptableModule {
  std::shared_ptr<Decoder> model;
  LayerSlot lm_head;
  TinyLm(int64_t vocab = 50, int64_t hidden = 16, int64_t intermediate = 32, int64_t num_layers = 3);
  at::Tensor forward(const at::Tensor& ids);
};

// LLaMA-shaped decoder layers ("layers.N.self_attn.{q,k,v,o}_proj", "layers.N.mlp.{gate,up,down}_proj")
// of bias-free oft::Linear projections created on `device` (meta: no memory at all).
std::shared_ptr<torch::nn::Module> make_llama_shaped(int64_t layers, int64_t hidden, int64_t intermediate,
                                                     c10::Device device);

// A model by its golden name ("mlp", "conv", "emb", "tiny_lm", "tiny_lm.model") with its forward.
struct NamedModel {
  std::shared_ptr<torch::nn::Module> module;
  std::function<at::Tensor(const at::Tensor&)> forward;
};
NamedModel make_model(const std::string& name);

// Copies tensors into the model's parameters by name; every parameter must be present.
void load_parameters(torch::nn::Module& model, const std::map<std::string, at::Tensor>& tensors,
                     const std::string& strip_prefix = "");

}  // namespace oft::test
