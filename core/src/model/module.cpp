#include "oft/model/module.h"

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "oft/errors.h"
#include "oft/layers/conv2d.h"
#include "oft/layers/embedding.h"
#include "oft/layers/linear.h"
#include "oft/model/modules_to_save.h"
#include "oft/modules/linear.h"
#include "oft/sdk/linear_format.h"

namespace oft {
namespace {

template <class Impl>
bool bind(const std::shared_ptr<torch::nn::Module>& module, LayerForward& out) {
  auto impl = std::dynamic_pointer_cast<Impl>(module);
  if (!impl) return false;
  out = [impl](const at::Tensor& x) { return impl->forward(x); };
  return true;
}

}  // namespace

void LayerSlot::assign(std::shared_ptr<torch::nn::Module> module, LayerForward forward) {
  module_ = std::move(module);
  forward_ = std::move(forward);
}

LayerForward forward_of(const std::shared_ptr<torch::nn::Module>& module) {
  LayerForward f;
  if (bind<torch::nn::LinearImpl>(module, f) || bind<LinearImpl>(module, f) || bind<Conv1DImpl>(module, f) || bind<torch::nn::Conv2dImpl>(module, f) ||
      bind<torch::nn::EmbeddingImpl>(module, f) || bind<torch::nn::LayerNormImpl>(module, f) ||
      bind<OFTLinearImpl>(module, f) || bind<OFTConv2dImpl>(module, f) || bind<OFTEmbeddingImpl>(module, f) ||
      bind<ModulesToSaveImpl>(module, f) || bind<sdk::LinearModule>(module, f))
    return f;
  throw UsageError("oft cannot call a module of type " + module->name() +
                   " through a LayerSlot (supported: Linear, Conv1D, Conv2d, Embedding, LayerNorm, OFT layers and backends' quantized linears)");
}

void Module::replace_layer(const std::string& name, std::shared_ptr<torch::nn::Module> module) {
  auto it = slots_.find(name);
  if (it == slots_.end())
    throw UsageError("child '" + name + "' of " + this->name() +
                     " was not registered with oft::Module::register_layer, so it cannot be replaced");
  LayerForward forward = forward_of(module);  // may throw: before anything changes
  replace_module(name, module);
  it->second->assign(std::move(module), std::move(forward));
}

}  // namespace oft
