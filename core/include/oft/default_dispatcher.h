#pragma once
// The built-in dispatcher "default" (priority 1000, asked last): dense torch::nn::Linear, oft::Linear, Conv1D
// (fan_in_fan_out), torch::nn::Conv2d and torch::nn::Embedding.
#include "oft/sdk/dispatcher.h"

namespace oft {

class DefaultDispatcher final : public sdk::Dispatcher {
 public:
  std::string name() const override { return "default"; }
  int priority() const override { return sdk::priority::kDefault; }
  std::optional<sdk::Claim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext& context) override;
};

}  // namespace oft
