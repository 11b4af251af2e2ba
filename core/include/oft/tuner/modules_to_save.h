#pragma once
// modules_to_save: PEFT keeps the original module and a fully trainable copy per adapter
// ("original_module", "modules_to_save.<adapter>"); forward uses the active adapter's copy. The
// copies are saved with the adapter under the module's own name.
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/moduledict.h>
#include <torch/nn/pimpl.h>

#include "oft/export.h"

namespace oft {

class OFT_CORE_API ModulesToSaveImpl : public torch::nn::Module {
 public:
  explicit ModulesToSaveImpl(std::shared_ptr<torch::nn::Module> original);

  void add_adapter(const std::string& name);  // a trainable deep copy of the original
  void delete_adapter(const std::string& name);
  bool has_adapter(const std::string& name) const { return copies_->contains(name); }
  void set_adapter(const std::vector<std::string>& active);
  void enable_adapters(bool enabled) { enabled_ = enabled; }

  std::shared_ptr<torch::nn::Module> original() const { return original_; }
  std::shared_ptr<torch::nn::Module> copy(const std::string& name) const;
  // The module forward runs: the first active adapter's copy, or the original.
  std::shared_ptr<torch::nn::Module> current() const;
  at::Tensor forward(const at::Tensor& x);

 private:
  std::shared_ptr<torch::nn::Module> original_;
  torch::nn::ModuleDict copies_;
  std::vector<std::string> active_;
  bool enabled_ = true;
};
TORCH_MODULE(ModulesToSave);

}  // namespace oft
