// LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM (one architecture: they differ in
// defaults, Qwen2's q/k/v bias and Mistral's sliding window), with transformers' module names.
#include <cmath>
#include <tuple>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "hf/architecture.h"
#include "hf/cached_decoding.h"
#include "hf/layers.h"
#include "oft/errors.h"
#include "oft/hf/gated_activation.h"
#include "oft/hf/rotary_embedding.h"
#include "oft/nn/adaptable_module.h"

namespace oft::models::detail {
namespace {

struct LlamaConfig {
  std::string type, act;
  int64_t vocab, hidden, intermediate, layers, heads, kv_heads, head_dim;
  int64_t window = 0;  // sliding window (mistral); 0: none
  double eps;
  bool qkv_bias, o_bias, mlp_bias, tied;
  std::optional<int64_t> pad;

  explicit LlamaConfig(const nlohmann::json& json) {
    type = json.at("model_type").get<std::string>();
    ConfigReader c(json, type);
    vocab = c.positive("vocab_size");
    hidden = c.positive("hidden_size");
    intermediate = c.positive("intermediate_size");
    layers = c.integer("num_hidden_layers");
    heads = c.positive("num_attention_heads");
    kv_heads = c.positive("num_key_value_heads", heads);
    if (heads % kv_heads != 0) c.fail("num_key_value_heads", "must divide num_attention_heads");
    if (!c.has("head_dim") && hidden % heads != 0)  // transformers 4.x's LlamaAttention check
      c.fail("hidden_size", "must be a multiple of num_attention_heads (or head_dim given)");
    head_dim = c.positive("head_dim", hidden / heads);
    eps = c.number("rms_norm_eps", 1e-6);
    act = c.text("hidden_act", "silu");
    check_activation(act, type);
    tied = c.flag("tie_word_embeddings", false);
    const bool attention_bias = c.flag("attention_bias", false);
    qkv_bias = type == "qwen2" || attention_bias;  // Qwen2 always has q/k/v bias, never an o_proj bias
    o_bias = type != "qwen2" && attention_bias;
    mlp_bias = c.flag("mlp_bias", false);
    if (c.has("pad_token_id")) {
      const int64_t p = c.integer("pad_token_id");
      if (p >= 0 && p < vocab) pad = p;
    }
    read_rope(c, json);
    if (type == "mistral") window = c.integer("sliding_window", 0);
    if (type == "qwen2" && c.flag("use_sliding_window", false))
      c.fail("use_sliding_window", "is not supported (Qwen2's per-layer sliding window)");
  }

  // rope_parameters (transformers 5) or rope_theta + rope_scaling (4.x).
  void read_rope(const ConfigReader& c, const nlohmann::json& json) {
    rope.theta = c.number("rope_theta", 10000.0);
    for (const char* key : {"rope_scaling", "rope_parameters"}) {
      if (!c.has(key)) continue;
      const auto& p = json.at(key);
      if (!p.is_object()) c.fail(key, "must be an object");
      auto number = [&](const char* name) {
        if (!p.contains(name) || !p.at(name).is_number())
          c.fail(key, std::string("needs a number '") + name + "' for rope type '" + rope.type + "'");
        return p.at(name).get<double>();
      };
      if (p.contains("rope_theta")) rope.theta = number("rope_theta");
      rope.type = p.value("rope_type", p.value("type", std::string("default")));
      if (p.contains("partial_rotary_factor") && number("partial_rotary_factor") != 1.0)
        c.fail(key, "has partial_rotary_factor != 1, which is not supported");
      if (rope.type == "linear" || rope.type == "llama3") rope.factor = number("factor");
      if (rope.type == "llama3") {
        rope.low_freq_factor = number("low_freq_factor");
        rope.high_freq_factor = number("high_freq_factor");
        rope.original_positions = p.contains("original_max_position_embeddings")
                                      ? number("original_max_position_embeddings")
                                      : static_cast<double>(c.integer("original_max_position_embeddings"));
      } else if (rope.type != "default" && rope.type != "linear") {
        c.fail(key, "has rope type '" + rope.type +
                        "', which is not supported (supported: default, linear, llama3; "
                        "not dynamic, yarn, longrope)");
      }
    }
  }

  struct Rope {
    std::string type = "default";
    double theta = 10000.0, factor = 1.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_positions = 0.0;
  } rope;

  // RoPE's inverse frequencies (head_dim / 2) in float32, as transformers' rope init functions compute them.
  at::Tensor inv_freq(c10::Device device) const {
    const auto options = at::TensorOptions().device(device);
    const at::Tensor inv =
        1.0 / at::pow(rope.theta, at::arange(0, head_dim, 2, options.dtype(at::kLong)).to(at::kFloat) / head_dim);
    if (rope.type == "linear") return inv / rope.factor;
    if (rope.type != "llama3") return inv;
    // Llama 3.1: long wavelengths slowed down by `factor`, short ones kept, the band between interpolated.
    const double low_wavelen = rope.original_positions / rope.low_freq_factor;
    const double high_wavelen = rope.original_positions / rope.high_freq_factor;
    const at::Tensor wavelen = 2 * M_PI / inv;
    const at::Tensor scaled = at::where(wavelen > low_wavelen, inv / rope.factor, inv);
    const at::Tensor smooth =
        (rope.original_positions / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
    const at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
    const at::Tensor medium = at::logical_not(wavelen < high_wavelen) & at::logical_not(wavelen > low_wavelen);
    return at::where(medium, smoothed, scaled);
  }
};

struct LlamaAttention : AdaptableModule {
  LayerSlot q_proj, k_proj, v_proj, o_proj;
  LlamaAttention(const LlamaConfig& c, c10::Device d) {
    register_layer("q_proj", q_proj, make_linear(c.hidden, c.heads * c.head_dim, c.qkv_bias, d));
    register_layer("k_proj", k_proj, make_linear(c.hidden, c.kv_heads * c.head_dim, c.qkv_bias, d));
    register_layer("v_proj", v_proj, make_linear(c.hidden, c.kv_heads * c.head_dim, c.qkv_bias, d));
    register_layer("o_proj", o_proj, make_linear(c.heads * c.head_dim, c.hidden, c.o_bias, d));
  }
};

struct LlamaMLP : AdaptableModule {
  LayerSlot gate_proj, up_proj, down_proj;
  LlamaMLP(const LlamaConfig& c, c10::Device d) {
    register_layer("gate_proj", gate_proj, make_linear(c.hidden, c.intermediate, c.mlp_bias, d));
    register_layer("up_proj", up_proj, make_linear(c.hidden, c.intermediate, c.mlp_bias, d));
    register_layer("down_proj", down_proj, make_linear(c.intermediate, c.hidden, c.mlp_bias, d));
  }
};

struct LlamaDecoderLayer : torch::nn::Module {
  std::shared_ptr<LlamaAttention> self_attn;
  std::shared_ptr<LlamaMLP> mlp;
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  LlamaDecoderLayer(const LlamaConfig& c, c10::Device d) {
    self_attn = register_module("self_attn", std::make_shared<LlamaAttention>(c, d));
    mlp = register_module("mlp", std::make_shared<LlamaMLP>(c, d));
    input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden, c.eps, d));
    post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden, c.eps, d));
  }
};

struct LlamaModel : AdaptableModule {
  LayerSlot embed_tokens;
  torch::nn::ModuleList layers;
  RMSNorm norm{nullptr};
  LlamaModel(const LlamaConfig& c, c10::Device d, const at::Tensor& tied_weight) {
    register_layer("embed_tokens", embed_tokens, make_embedding(c.vocab, c.hidden, d, c.pad, tied_weight));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.layers; ++i) layers->push_back(std::make_shared<LlamaDecoderLayer>(c, d));
    norm = register_module("norm", RMSNorm(c.hidden, c.eps, d));
  }
};

struct LlamaForCausalLM : AdaptableModule, CachedDecoding {
  LlamaConfig config;
  std::shared_ptr<LlamaModel> model;
  LayerSlot lm_head;
  LlamaForCausalLM(const LlamaConfig& c, c10::Device d) : config(c) {
    auto head = make_linear(c.hidden, c.vocab, false, d);
    model = register_module("model", std::make_shared<LlamaModel>(c, d, c.tied ? head->weight : at::Tensor()));
    register_layer("lm_head", lm_head, head);
  }

  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) {
    check_inputs(ids, mask, 0);
    const AttentionMask mask4d =
        attention_mask_4d(mask, ids.size(0), ids.size(1), /*causal=*/true, config.window, ids.device());
    return run(ids, mask4d, 0, nullptr);
  }

  at::Tensor forward_cached(const at::Tensor& ids, KVCache& cache) override {
    check_cached_inputs(ids);
    const AttentionMask mask4d = cached_causal_mask(cache.length, ids.size(1), config.window, ids.device());
    at::Tensor logits = run(ids, mask4d, cache.length, &cache);
    cache.length += ids.size(1);
    return logits;
  }

 private:
  // ids at positions past..past+T-1; with a cache, attends to its keys/values and appends the new ones.
  at::Tensor run(const at::Tensor& ids, const AttentionMask& mask4d, int64_t past, KVCache* cache) {
    const auto& c = config;
    const int64_t batch = ids.size(0), length = ids.size(1), dim = c.head_dim;
    at::Tensor h = model->embed_tokens(ids);
    // RoPE as transformers computes it: float32 angles, cos/sin cast to the activations' dtype.
    const auto f32 = at::TensorOptions().device(ids.device()).dtype(at::kFloat);
    const at::Tensor positions = at::arange(past, past + length, f32);
    const at::Tensor freqs = at::outer(positions, c.inv_freq(ids.device()));
    const at::Tensor angles = at::cat({freqs, freqs}, -1);
    const at::Tensor cos = angles.cos().to(h.scalar_type()), sin = angles.sin().to(h.scalar_type());
    const double scale = std::pow(static_cast<double>(dim), -0.5);
    auto heads = [&](const at::Tensor& x, int64_t n) { return x.view({batch, length, n, dim}).transpose(1, 2); };
    // Rotated while (batch, seq, heads, dim), the projection's own layout, then seen as (batch, heads, seq, dim).
    auto rotated_heads = [&](const at::Tensor& x, int64_t n) {
      return rotary_embedding(x.view({batch, length, n, dim}), cos, sin).transpose(1, 2);
    };
    size_t index = 0;
    for (const auto& module : *model->layers) {
      auto& l = *module->as<LlamaDecoderLayer>();
      auto& a = *l.self_attn;
      at::Tensor x = l.input_layernorm(h);
      const at::Tensor q = rotated_heads(a.q_proj(x), c.heads);
      at::Tensor k = rotated_heads(a.k_proj(x), c.kv_heads);
      at::Tensor v = heads(a.v_proj(x), c.kv_heads);
      if (cache) std::tie(k, v) = extend_cache(*cache, index, k, v);
      h = h + a.o_proj(attention(q, k, v, mask4d, scale));
      x = l.post_attention_layernorm(h);
      h = h + l.mlp->down_proj(gated_activation(c.act, l.mlp->gate_proj(x), l.mlp->up_proj(x)));
      ++index;
    }
    return lm_head(model->norm(h));
  }
};

const char* class_name(const std::string& type) {
  if (type == "mistral") return "MistralForCausalLM";
  if (type == "qwen2") return "Qwen2ForCausalLM";
  return "LlamaForCausalLM";
}

}  // namespace

Architecture build_llama(const nlohmann::json& json, const BuildOptions& options) {
  const LlamaConfig config(json);
  auto model = std::make_shared<LlamaForCausalLM>(config, options.device);
  Architecture a;
  a.module = model;
  a.forward = [model](const at::Tensor& ids, const at::Tensor& mask) { return model->forward(ids, mask); };
  a.class_name = class_name(config.type);
  a.output_name = "logits";
  a.output_layer = "lm_head";
  a.base_prefix = "model";
  a.head_model = true;
  if (config.tied) a.tied = {"lm_head.weight"};
  a.ignored_suffixes = {"rotary_emb.inv_freq"};
  return a;
}

}  // namespace oft::models::detail
