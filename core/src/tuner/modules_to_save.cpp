#include "oft/tuner/modules_to_save.h"

#include <algorithm>

#include "oft/errors.h"
#include "oft/nn/adaptable_module.h"

namespace oft {

ModulesToSaveImpl::ModulesToSaveImpl(std::shared_ptr<torch::nn::Module> original) : original_(std::move(original)) {
  register_module("original_module", original_);
  copies_ = register_module("modules_to_save", torch::nn::ModuleDict());
}

void ModulesToSaveImpl::add_adapter(const std::string& name) {
  if (has_adapter(name)) throw UsageError("modules_to_save already has a copy for adapter '" + name + "'");
  std::shared_ptr<torch::nn::Module> copy;
  try {
    copy = original_->clone();
  } catch (const std::exception& e) {
    throw UsageError("modules_to_save: cannot copy module of type " + original_->name() + ": " + e.what());
  }
  for (auto& p : copy->parameters()) p.set_requires_grad(true);
  copies_->update({{name, copy}});
}

void ModulesToSaveImpl::delete_adapter(const std::string& name) {
  if (!has_adapter(name)) return;
  copies_->pop(name);
  copies_->unregister_module(name);
  active_.erase(std::remove(active_.begin(), active_.end(), name), active_.end());
}

void ModulesToSaveImpl::set_adapter(const std::vector<std::string>& active) {
  active_ = active;
  for (const auto& [name, module] : copies_->items()) {
    const bool on = std::find(active_.begin(), active_.end(), name) != active_.end();
    for (auto& p : module->parameters()) p.set_requires_grad(on);
  }
}

std::shared_ptr<torch::nn::Module> ModulesToSaveImpl::copy(const std::string& name) const {
  if (!has_adapter(name)) throw UsageError("modules_to_save has no copy for adapter '" + name + "'");
  return copies_.ptr()->operator[](name);
}

std::shared_ptr<torch::nn::Module> ModulesToSaveImpl::current() const {
  if (enabled_)
    for (const auto& name : active_)
      if (has_adapter(name)) return copy(name);
  return original_;
}

at::Tensor ModulesToSaveImpl::forward(const at::Tensor& x) { return forward_of(current())(x); }

}  // namespace oft
