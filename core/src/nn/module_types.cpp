#include "nn/module_types.h"

#include <functional>
#include <vector>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "nn/dense_linear.h"
#include "oft/adapter/oft_conv2d.h"
#include "oft/adapter/oft_embedding.h"
#include "oft/adapter/oft_linear.h"
#include "oft/nn/conv1d.h"
#include "oft/nn/linear.h"
#include "oft/sdk/linear_format.h"
#include "oft/tuner/modules_to_save.h"

namespace oft {
namespace {

using Row = std::function<std::optional<ModuleType>(const std::shared_ptr<torch::nn::Module>&)>;

template <class Impl>
LayerForward call(std::shared_ptr<Impl> impl) {
  return [impl](const at::Tensor& x) { return impl->forward(x); };
}

// A module the host calls but leaves to others to adapt (`linear`: it still counts for "all-linear").
template <class Impl>
Row callable(bool linear = false) {
  return [linear](const std::shared_ptr<torch::nn::Module>& module) -> std::optional<ModuleType> {
    auto impl = std::dynamic_pointer_cast<Impl>(module);
    if (!impl) return std::nullopt;
    return ModuleType{call(impl), linear, std::nullopt};
  };
}

// A dense linear: OFT's Linear sits on the LinearBase `view` makes of it.
template <class Impl, class View>
Row dense_linear(View view) {
  return [view](const std::shared_ptr<torch::nn::Module>& module) -> std::optional<ModuleType> {
    auto impl = std::dynamic_pointer_cast<Impl>(module);
    if (!impl) return std::nullopt;
    return ModuleType{call(impl), true, HostClaim::on_linear(view(impl))};
  };
}

// A dense module with an OFT layer of its own, built from the module's holder.
template <class Impl, class Holder, class OFTLayerImpl>
Row dense_base() {
  return [](const std::shared_ptr<torch::nn::Module>& module) -> std::optional<ModuleType> {
    auto impl = std::dynamic_pointer_cast<Impl>(module);
    if (!impl) return std::nullopt;
    return ModuleType{call(impl), false, HostClaim{nullptr, [impl]() -> std::shared_ptr<OFTLayer> {
                                                     return std::make_shared<OFTLayerImpl>(Holder(impl));
                                                   }}};
  };
}

const std::vector<Row>& table() {
  static const std::vector<Row> rows{
      dense_linear<torch::nn::LinearImpl>([](auto l) { return std::make_shared<DenseLinear>(torch::nn::Linear(l)); }),
      dense_linear<LinearImpl>([](auto l) { return std::make_shared<DenseLinear>(Linear(l)); }),
      dense_linear<Conv1DImpl>([](auto c) { return std::make_shared<Conv1DLinear>(Conv1D(c)); }),
      dense_base<torch::nn::Conv2dImpl, torch::nn::Conv2d, OFTConv2dImpl>(),
      dense_base<torch::nn::EmbeddingImpl, torch::nn::Embedding, OFTEmbeddingImpl>(),
      callable<torch::nn::LayerNormImpl>(),
      callable<sdk::LinearModule>(/*linear=*/true),  // a backend's quantized linear: its own dispatcher adapts it
      callable<OFTLinearImpl>(/*linear=*/true),
      callable<OFTConv2dImpl>(),
      callable<OFTEmbeddingImpl>(),
      callable<ModulesToSaveImpl>(),
  };
  return rows;
}

}  // namespace

std::optional<ModuleType> module_type_of(const std::shared_ptr<torch::nn::Module>& module) {
  for (const auto& row : table())
    if (auto type = row(module)) return type;
  return std::nullopt;
}

}  // namespace oft
