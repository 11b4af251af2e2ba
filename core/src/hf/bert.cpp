// BertModel (as sentence-transformers' all-MiniLM-L6-v2 uses it): transformers' module names, so the
// parameter names are the checkpoint keys and PEFT's targets ("query", "value") match.
#include <cmath>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "hf/architecture.h"
#include "hf/layers.h"
#include "oft/errors.h"
#include "oft/nn/adaptable_module.h"

namespace oft::models::detail {
namespace {

struct BertConfig {
  int64_t vocab, hidden, layers, heads, intermediate, max_positions, type_vocab, pad;
  double eps;
  std::string act;

  explicit BertConfig(const nlohmann::json& json) {
    ConfigReader c(json, "bert");
    vocab = c.positive("vocab_size");
    hidden = c.positive("hidden_size");
    layers = c.integer("num_hidden_layers");
    heads = c.positive("num_attention_heads");
    intermediate = c.positive("intermediate_size");
    max_positions = c.positive("max_position_embeddings");
    type_vocab = c.positive("type_vocab_size", 2);
    pad = c.integer("pad_token_id", 0);
    eps = c.number("layer_norm_eps", 1e-12);
    act = c.text("hidden_act", "gelu");
    check_activation(act, "bert");
    if (hidden % heads != 0) c.fail("hidden_size", "must be a multiple of num_attention_heads");
    if (c.text("position_embedding_type", "absolute") != "absolute")
      c.fail("position_embedding_type", "is not supported (only \"absolute\")");
    if (c.flag("is_decoder", false) || c.flag("add_cross_attention", false))
      c.fail("is_decoder", "is not supported: oft's BertModel is the encoder only");
  }
};

struct BertEmbeddings : AdaptableModule {
  LayerSlot word_embeddings, position_embeddings, token_type_embeddings;
  LayerNorm norm{nullptr};
  BertEmbeddings(const BertConfig& c, c10::Device d) {
    register_layer("word_embeddings", word_embeddings, make_embedding(c.vocab, c.hidden, d, c.pad));
    register_layer("position_embeddings", position_embeddings, make_embedding(c.max_positions, c.hidden, d));
    register_layer("token_type_embeddings", token_type_embeddings, make_embedding(c.type_vocab, c.hidden, d));
    norm = register_module("LayerNorm", LayerNorm(c.hidden, c.eps, d));
  }
};

struct BertSelfAttention : AdaptableModule {
  LayerSlot query, key, value;
  BertSelfAttention(const BertConfig& c, c10::Device d) {
    register_layer("query", query, make_linear(c.hidden, c.hidden, true, d));
    register_layer("key", key, make_linear(c.hidden, c.hidden, true, d));
    register_layer("value", value, make_linear(c.hidden, c.hidden, true, d));
  }
};

// BertSelfOutput and BertOutput: dense, then LayerNorm(dense(x) + residual).
struct BertDenseNorm : AdaptableModule {
  LayerSlot dense;
  LayerNorm norm{nullptr};
  BertDenseNorm(int64_t in, const BertConfig& c, c10::Device d) {
    register_layer("dense", dense, make_linear(in, c.hidden, true, d));
    norm = register_module("LayerNorm", LayerNorm(c.hidden, c.eps, d));
  }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& residual) { return norm(dense(x) + residual); }
};

struct BertAttention : torch::nn::Module {
  std::shared_ptr<BertSelfAttention> self;
  std::shared_ptr<BertDenseNorm> output;
  BertAttention(const BertConfig& c, c10::Device d) {
    self = register_module("self", std::make_shared<BertSelfAttention>(c, d));
    output = register_module("output", std::make_shared<BertDenseNorm>(c.hidden, c, d));
  }
};

struct BertIntermediate : AdaptableModule {
  LayerSlot dense;
  BertIntermediate(const BertConfig& c, c10::Device d) {
    register_layer("dense", dense, make_linear(c.hidden, c.intermediate, true, d));
  }
};

struct BertLayer : torch::nn::Module {
  std::shared_ptr<BertAttention> attention;
  std::shared_ptr<BertIntermediate> intermediate;
  std::shared_ptr<BertDenseNorm> output;
  BertLayer(const BertConfig& c, c10::Device d) {
    attention = register_module("attention", std::make_shared<BertAttention>(c, d));
    intermediate = register_module("intermediate", std::make_shared<BertIntermediate>(c, d));
    output = register_module("output", std::make_shared<BertDenseNorm>(c.intermediate, c, d));
  }
};

struct BertPooler : AdaptableModule {
  LayerSlot dense;
  BertPooler(const BertConfig& c, c10::Device d) {
    register_layer("dense", dense, make_linear(c.hidden, c.hidden, true, d));
  }
};

struct BertModel : torch::nn::Module {
  BertConfig config;
  std::shared_ptr<BertEmbeddings> embeddings;
  torch::nn::ModuleList layer;
  BertModel(const BertConfig& c, c10::Device d, bool pooler) : config(c) {
    embeddings = register_module("embeddings", std::make_shared<BertEmbeddings>(c, d));
    auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
    layer = encoder->register_module("layer", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.layers; ++i) layer->push_back(std::make_shared<BertLayer>(c, d));
    // Not used by the forward (last_hidden_state), but part of BertModel's checkpoint.
    if (pooler) register_module("pooler", std::make_shared<BertPooler>(c, d));
  }

  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) {
    check_inputs(ids, mask, config.max_positions);
    const int64_t batch = ids.size(0), length = ids.size(1);
    const int64_t heads = config.heads, dim = config.hidden / heads;
    auto& e = *embeddings;
    const auto positions = at::arange(length, ids.options()).unsqueeze(0);
    // transformers' order: (words + token types) + positions.
    at::Tensor h = e.word_embeddings(ids) + e.token_type_embeddings(at::zeros_like(ids));
    h = e.norm(h + e.position_embeddings(positions));
    const AttentionMask mask4d = attention_mask_4d(mask, batch, length, /*causal=*/false, 0, ids.device());
    auto split = [&](const at::Tensor& x) { return x.view({batch, length, heads, dim}).transpose(1, 2); };
    for (const auto& module : *layer) {
      auto& l = *module->as<BertLayer>();
      auto& s = *l.attention->self;
      const at::Tensor context =
          attention(split(s.query(h)), split(s.key(h)), split(s.value(h)), mask4d, 1.0 / std::sqrt(double(dim)));
      const at::Tensor a = l.attention->output->forward(context, h);
      h = l.output->forward(activation(config.act, l.intermediate->dense(a)), a);
    }
    return h;
  }
};

}  // namespace

Architecture build_bert(const nlohmann::json& json, const BuildOptions& options) {
  auto model = std::make_shared<BertModel>(BertConfig(json), options.device, options.bert_pooler);
  Architecture a;
  a.module = model;
  a.forward = [model](const at::Tensor& ids, const at::Tensor& mask) { return model->forward(ids, mask); };
  a.class_name = "BertModel";
  a.output_name = "last_hidden_state";
  a.base_prefix = "bert";
  a.head_model = false;
  // Buffers older transformers versions saved (all-MiniLM-L6-v2 has position_ids); dropped silently.
  a.ignored_suffixes = {"embeddings.position_ids", "embeddings.token_type_ids"};
  return a;
}

}  // namespace oft::models::detail
