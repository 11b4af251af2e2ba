#include "oft/default_dispatcher.h"

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "oft/layers/dense_linear.h"

namespace oft {

std::optional<sdk::Claim> DefaultDispatcher::claim(const sdk::ModuleRef& module, const sdk::DispatchContext&) {
  using Kind = sdk::Claim::Kind;
  if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(module.module))
    return sdk::Claim{Kind::Linear, std::make_shared<DenseLinear>(torch::nn::Linear(linear))};
  if (auto linear = std::dynamic_pointer_cast<LinearImpl>(module.module))
    return sdk::Claim{Kind::Linear, std::make_shared<DenseLinear>(Linear(linear))};
  if (auto conv1d = std::dynamic_pointer_cast<Conv1DImpl>(module.module))
    return sdk::Claim{Kind::Linear, std::make_shared<Conv1DLinear>(Conv1D(conv1d))};
  if (std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(module.module)) return sdk::Claim{Kind::Conv2d, nullptr};
  if (std::dynamic_pointer_cast<torch::nn::EmbeddingImpl>(module.module)) return sdk::Claim{Kind::Embedding, nullptr};
  return std::nullopt;
}

}  // namespace oft
