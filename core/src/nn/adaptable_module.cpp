#include "oft/nn/adaptable_module.h"

#include "nn/module_types.h"
#include "oft/errors.h"

namespace oft {

void LayerSlot::assign(std::shared_ptr<torch::nn::Module> module, LayerForward forward) {
  module_ = std::move(module);
  forward_ = std::move(forward);
}

LayerForward forward_of(const std::shared_ptr<torch::nn::Module>& module) {
  if (auto type = module_type_of(module)) return type->forward;
  throw UsageError("oft cannot call a module of type " + module->name() +
                   " through a LayerSlot (supported: Linear, Conv1D, Conv2d, Embedding, LayerNorm, OFT layers and "
                   "backends' quantized linears)");
}

void AdaptableModule::replace_layer(const std::string& name, std::shared_ptr<torch::nn::Module> module) {
  auto it = slots_.find(name);
  if (it == slots_.end())
    throw UsageError("child '" + name + "' of " + this->name() +
                     " was not registered with oft::AdaptableModule::register_layer, so it cannot be replaced");
  LayerForward forward = forward_of(module);  // may throw: before anything changes
  replace_module(name, module);
  it->second->assign(std::move(module), std::move(forward));
}

}  // namespace oft
