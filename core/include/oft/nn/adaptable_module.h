#pragma once
// Replaceable layers. LibTorch parents keep children in typed fields (torch::nn::Linear q_proj),
// so swapping the registered child alone would leave the field calling the old layer. Models that
// OFT adapts derive from oft::AdaptableModule and declare their adaptable layers as LayerSlots with
// register_layer; OFTModel then replaces the registered child and the slot together.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "oft/export.h"

namespace oft {

using LayerForward = std::function<at::Tensor(const at::Tensor&)>;

// A child layer the model calls through: slot(x). After OFT injection it runs the OFT layer.
class OFT_CORE_API LayerSlot {
 public:
  at::Tensor operator()(const at::Tensor& x) const { return forward_(x); }
  const std::shared_ptr<torch::nn::Module>& module() const { return module_; }
  template <class Impl>
  std::shared_ptr<Impl> as() const {
    return std::dynamic_pointer_cast<Impl>(module_);
  }
  void assign(std::shared_ptr<torch::nn::Module> module, LayerForward forward);

 private:
  std::shared_ptr<torch::nn::Module> module_;
  LayerForward forward_;
};

// The forward of a module OFT knows how to call: Linear, Conv1D, Conv2d, Embedding, LayerNorm and
// the OFT layers. Throws UsageError naming the type otherwise.
OFT_CORE_API LayerForward forward_of(const std::shared_ptr<torch::nn::Module>& module);

class OFT_CORE_API AdaptableModule : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;

  // Registers `layer` as child `name` and binds `slot` to it. The slot must be a member of this
  // module (it is referenced, not copied), so do not clone modules that use slots.
  template <class Holder>
  void register_layer(const std::string& name, LayerSlot& slot, Holder layer) {
    auto impl = layer.ptr();
    register_module(name, impl);
    slot.assign(impl, forward_of(impl));
    slots_[name] = &slot;
  }

  bool has_layer(const std::string& name) const { return slots_.count(name) != 0; }
  // Replaces the registered child `name` and its slot. UsageError if `name` was not registered
  // with register_layer.
  void replace_layer(const std::string& name, std::shared_ptr<torch::nn::Module> module);

 private:
  std::map<std::string, LayerSlot*> slots_;
};

}  // namespace oft
