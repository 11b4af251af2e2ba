#pragma once
// The built-in dispatcher "default" (priority 1000, asked last): the dense modules the host adapts
// itself (Linear, Conv1D, Conv2d, Embedding), as its table of module types lists them
// (core/src/nn/module_types.cpp).
#include "oft/export.h"
#include "oft/plugin/dispatcher_registry.h"

namespace oft {

class OFT_CORE_API DefaultDispatcher final : public HostDispatcher {
 public:
  std::string name() const override { return "default"; }
  static constexpr int kPriority = 1000;  // PEFT's default: after every backend
  int priority() const override { return kPriority; }
  std::optional<HostClaim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext& context) override;
};

}  // namespace oft
