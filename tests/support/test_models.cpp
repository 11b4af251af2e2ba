#include "test_models.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "oft/errors.h"
#include "oft/nn/linear.h"

namespace oft::test {

using torch::nn::Conv2d;
using torch::nn::Conv2dOptions;
using torch::nn::Embedding;
using torch::nn::Linear;

MlpModel::MlpModel() {
  register_layer("lin0", lin0, Linear(10, 20));
  register_layer("lin1", lin1, Linear(20, 20));
  register_layer("lin2", lin2, Linear(20, 4));
}
at::Tensor MlpModel::forward(const at::Tensor& x) { return lin2(at::relu(lin1(at::relu(lin0(x))))); }

ConvModel::ConvModel() {
  register_layer("conv0", conv0, Conv2d(Conv2dOptions(4, 8, 3).padding(1)));
  register_layer("conv1", conv1, Conv2d(Conv2dOptions(8, 8, 3).padding(1)));
  register_layer("head", head, Linear(8 * 5 * 5, 3));
}
at::Tensor ConvModel::forward(const at::Tensor& x) { return head(at::relu(conv1(at::relu(conv0(x)))).flatten(1)); }

EmbModel::EmbModel() {
  register_layer("emb", emb, Embedding(30, 12));
  register_layer("lin", lin, Linear(12, 4));
}
at::Tensor EmbModel::forward(const at::Tensor& ids) { return lin(emb(ids)); }

Attention::Attention(int64_t hidden) {
  register_layer("q_proj", q_proj, Linear(hidden, hidden));
  register_layer("k_proj", k_proj, Linear(hidden, hidden));
  register_layer("v_proj", v_proj, Linear(hidden, hidden));
  register_layer("o_proj", o_proj, Linear(hidden, hidden));
}

FeedForward::FeedForward(int64_t hidden, int64_t intermediate) {
  register_layer("up_proj", up_proj, Linear(hidden, intermediate));
  register_layer("down_proj", down_proj, Linear(intermediate, hidden));
}

Block::Block(int64_t hidden, int64_t intermediate) {
  self_attn = register_module("self_attn", std::make_shared<Attention>(hidden));
  mlp = register_module("mlp", std::make_shared<FeedForward>(hidden, intermediate));
}
at::Tensor Block::forward(const at::Tensor& h) {
  auto& a = *self_attn;
  at::Tensor out = h + a.o_proj(a.q_proj(h) * at::sigmoid(a.k_proj(h)) + a.v_proj(h));
  return out + mlp->down_proj(at::relu(mlp->up_proj(out)));
}

Decoder::Decoder(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t num_layers) {
  register_layer("embed_tokens", embed_tokens, Embedding(vocab, hidden));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) layers->push_back(std::make_shared<Block>(hidden, intermediate));
}
at::Tensor Decoder::forward(const at::Tensor& ids) {
  at::Tensor h = embed_tokens(ids);
  for (const auto& layer : *layers) h = layer->as<Block>()->forward(h);
  return h;
}

TinyLm::TinyLm(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t num_layers) {
  model = register_module("model", std::make_shared<Decoder>(vocab, hidden, intermediate, num_layers));
  register_layer("lm_head", lm_head, Linear(hidden, vocab));
}
at::Tensor TinyLm::forward(const at::Tensor& ids) { return lm_head(model->forward(ids)); }

namespace {

struct LlamaAttention : AdaptableModule {
  LayerSlot q_proj, k_proj, v_proj, o_proj;
  LlamaAttention(int64_t hidden, c10::Device device) {
    auto proj = [&] { return oft::Linear(LinearSpec{hidden, hidden, false, device}); };
    register_layer("q_proj", q_proj, proj());
    register_layer("k_proj", k_proj, proj());
    register_layer("v_proj", v_proj, proj());
    register_layer("o_proj", o_proj, proj());
  }
};

struct LlamaMlp : AdaptableModule {
  LayerSlot gate_proj, up_proj, down_proj;
  LlamaMlp(int64_t hidden, int64_t intermediate, c10::Device device) {
    register_layer("gate_proj", gate_proj, oft::Linear(LinearSpec{hidden, intermediate, false, device}));
    register_layer("up_proj", up_proj, oft::Linear(LinearSpec{hidden, intermediate, false, device}));
    register_layer("down_proj", down_proj, oft::Linear(LinearSpec{intermediate, hidden, false, device}));
  }
};

}  // namespace

std::shared_ptr<torch::nn::Module> make_llama_shaped(int64_t layers, int64_t hidden, int64_t intermediate,
                                                     c10::Device device) {
  auto model = std::make_shared<torch::nn::Module>();
  auto list = model->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) {
    auto layer = std::make_shared<torch::nn::Module>();
    layer->register_module("self_attn", std::make_shared<LlamaAttention>(hidden, device));
    layer->register_module("mlp", std::make_shared<LlamaMlp>(hidden, intermediate, device));
    list->push_back(layer);
  }
  return model;
}

NamedModel make_model(const std::string& name) {
  if (name == "mlp") {
    auto m = std::make_shared<MlpModel>();
    return {m, [m](const at::Tensor& x) { return m->forward(x); }};
  }
  if (name == "conv") {
    auto m = std::make_shared<ConvModel>();
    return {m, [m](const at::Tensor& x) { return m->forward(x); }};
  }
  if (name == "emb") {
    auto m = std::make_shared<EmbModel>();
    return {m, [m](const at::Tensor& x) { return m->forward(x); }};
  }
  if (name == "tiny_lm") {
    auto m = std::make_shared<TinyLm>();
    return {m, [m](const at::Tensor& x) { return m->forward(x); }};
  }
  if (name == "tiny_lm.model") {
    auto m = std::make_shared<Decoder>(50, 16, 32, 3);
    return {m, [m](const at::Tensor& x) { return m->forward(x); }};
  }
  throw UsageError("unknown test model '" + name + "'");
}

void load_parameters(torch::nn::Module& model, const std::map<std::string, at::Tensor>& tensors,
                     const std::string& strip_prefix) {
  std::map<std::string, at::Tensor> by_name;
  for (const auto& [key, t] : tensors)
    if (key.rfind(strip_prefix, 0) == 0) by_name[key.substr(strip_prefix.size())] = t;
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) {
    auto it = by_name.find(item.key());
    if (it == by_name.end()) throw FormatError("no tensor for parameter '" + item.key() + "'");
    item.value().copy_(it->second);
  }
}

}  // namespace oft::test
