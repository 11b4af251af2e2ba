// GPT2LMHeadModel with transformers' module names: Conv1D projections (weights stored (in, out),
// PEFT's fan_in_fan_out), learned positions, gelu_new, lm_head tied to wte.
#include <cmath>
#include <string>
#include <tuple>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "hf/architecture.h"
#include "hf/cached_decoding.h"
#include "hf/layers.h"
#include "oft/errors.h"
#include "oft/nn/adaptable_module.h"

namespace oft::models::detail {
namespace {

struct GPT2Config {
  int64_t vocab, embd, layers, heads, positions, inner;
  double eps;
  std::string act;
  bool scale_weights, scale_by_layer, tied;

  explicit GPT2Config(const nlohmann::json& json) {
    ConfigReader c(json, "gpt2");
    vocab = c.positive("vocab_size");
    embd = c.positive("n_embd");
    layers = c.integer("n_layer");
    heads = c.positive("n_head");
    positions = c.positive("n_positions");
    inner = c.positive("n_inner", 4 * embd);
    eps = c.number("layer_norm_epsilon", 1e-5);
    act = c.text("activation_function", "gelu_new");
    check_activation(act, "gpt2");
    scale_weights = c.flag("scale_attn_weights", true);
    scale_by_layer = c.flag("scale_attn_by_inverse_layer_idx", false);
    tied = c.flag("tie_word_embeddings", true);
    if (embd % heads != 0) c.fail("n_embd", "must be a multiple of n_head");
    if (c.flag("add_cross_attention", false)) c.fail("add_cross_attention", "is not supported");
    if (c.flag("reorder_and_upcast_attn", false)) c.fail("reorder_and_upcast_attn", "is not supported");
  }
};

struct GPT2Attention : AdaptableModule {
  LayerSlot c_attn, c_proj;
  GPT2Attention(const GPT2Config& c, c10::Device d) {
    register_layer("c_attn", c_attn, make_conv1d(c.embd, 3 * c.embd, d));
    register_layer("c_proj", c_proj, make_conv1d(c.embd, c.embd, d));
  }
};

struct GPT2MLP : AdaptableModule {
  LayerSlot c_fc, c_proj;
  GPT2MLP(const GPT2Config& c, c10::Device d) {
    register_layer("c_fc", c_fc, make_conv1d(c.embd, c.inner, d));
    register_layer("c_proj", c_proj, make_conv1d(c.inner, c.embd, d));
  }
};

struct GPT2Block : torch::nn::Module {
  LayerNorm ln_1{nullptr}, ln_2{nullptr};
  std::shared_ptr<GPT2Attention> attn;
  std::shared_ptr<GPT2MLP> mlp;
  GPT2Block(const GPT2Config& c, c10::Device d) {
    ln_1 = register_module("ln_1", LayerNorm(c.embd, c.eps, d));
    attn = register_module("attn", std::make_shared<GPT2Attention>(c, d));
    ln_2 = register_module("ln_2", LayerNorm(c.embd, c.eps, d));
    mlp = register_module("mlp", std::make_shared<GPT2MLP>(c, d));
  }
};

struct GPT2Model : AdaptableModule {
  LayerSlot wte, wpe;
  torch::nn::ModuleList h;
  LayerNorm ln_f{nullptr};
  GPT2Model(const GPT2Config& c, c10::Device d, const at::Tensor& tied_weight) {
    register_layer("wte", wte, make_embedding(c.vocab, c.embd, d, std::nullopt, tied_weight));
    register_layer("wpe", wpe, make_embedding(c.positions, c.embd, d));
    h = register_module("h", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.layers; ++i) h->push_back(std::make_shared<GPT2Block>(c, d));
    ln_f = register_module("ln_f", LayerNorm(c.embd, c.eps, d));
  }
};

struct GPT2LMHeadModel : AdaptableModule, CachedDecoding {
  GPT2Config config;
  std::shared_ptr<GPT2Model> transformer;
  LayerSlot lm_head;
  GPT2LMHeadModel(const GPT2Config& c, c10::Device d) : config(c) {
    auto head = make_linear(c.embd, c.vocab, false, d);
    transformer =
        register_module("transformer", std::make_shared<GPT2Model>(c, d, c.tied ? head->weight : at::Tensor()));
    register_layer("lm_head", lm_head, head);
  }

  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) {
    check_inputs(ids, mask, config.positions);
    const AttentionMask mask4d = attention_mask_4d(mask, ids.size(0), ids.size(1), /*causal=*/true, 0, ids.device());
    return run(ids, mask4d, 0, nullptr);
  }

  at::Tensor forward_cached(const at::Tensor& ids, KVCache& cache) override {
    check_cached_inputs(ids);
    if (cache.length + ids.size(1) > config.positions)
      throw UsageError("GPT-2 decoding past " + std::to_string(config.positions) +
                       " positions (n_positions): the context would have " +
                       std::to_string(cache.length + ids.size(1)));
    at::Tensor logits = run(ids, cached_causal_mask(cache.length, ids.size(1), 0, ids.device()), cache.length, &cache);
    cache.length += ids.size(1);
    return logits;
  }

 private:
  // ids at positions past..past+T-1; with a cache, attends to its keys/values and appends the new ones.
  at::Tensor run(const at::Tensor& ids, const AttentionMask& mask4d, int64_t past, KVCache* cache) {
    const auto& c = config;
    const int64_t batch = ids.size(0), length = ids.size(1), dim = c.embd / c.heads;
    auto& t = *transformer;
    at::Tensor x = t.wte(ids) + t.wpe(at::arange(past, past + length, ids.options()).unsqueeze(0));
    auto heads = [&](const at::Tensor& y) { return y.view({batch, length, c.heads, dim}).transpose(1, 2); };
    int64_t index = 0;
    for (const auto& module : *t.h) {
      auto& b = *module->as<GPT2Block>();
      double scale = c.scale_weights ? std::pow(static_cast<double>(dim), -0.5) : 1.0;
      if (c.scale_by_layer) scale /= static_cast<double>(index + 1);
      const auto qkv = b.attn->c_attn(b.ln_1(x)).split(c.embd, 2);
      at::Tensor k = heads(qkv[1]), v = heads(qkv[2]);
      if (cache) std::tie(k, v) = extend_cache(*cache, static_cast<size_t>(index), k, v);
      x = x + b.attn->c_proj(attention(heads(qkv[0]), k, v, mask4d, scale));
      x = x + b.mlp->c_proj(activation(c.act, b.mlp->c_fc(b.ln_2(x))));
      ++index;
    }
    return lm_head(t.ln_f(x));
  }
};

}  // namespace

Architecture build_gpt2(const nlohmann::json& json, const BuildOptions& options) {
  auto model = std::make_shared<GPT2LMHeadModel>(GPT2Config(json), options.device);
  Architecture a;
  a.module = model;
  a.forward = [model](const at::Tensor& ids, const at::Tensor& mask) { return model->forward(ids, mask); };
  a.class_name = "GPT2LMHeadModel";
  a.output_name = "logits";
  a.output_layer = "lm_head";
  a.base_prefix = "transformer";
  a.head_model = true;
  if (model->config.tied) a.tied = {"lm_head.weight"};
  // The causal-mask buffers of old GPT-2 checkpoints, which transformers drops silently.
  a.ignored_suffixes = {".attn.bias", ".attn.masked_bias"};
  return a;
}

}  // namespace oft::models::detail
