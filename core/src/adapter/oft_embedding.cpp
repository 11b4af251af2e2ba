#include "oft/adapter/oft_embedding.h"

namespace oft {

OFTEmbeddingImpl::OFTEmbeddingImpl(torch::nn::Embedding base) : OFTLayer("oft_embedding_R"), base_(std::move(base)) {
  register_module("base_layer", base_.ptr());
  layer_label_ =
      "Embedding(" + std::to_string(base_->weight.size(0)) + ", " + std::to_string(base_->weight.size(1)) + ")";
}

at::Tensor OFTEmbeddingImpl::forward(const at::Tensor& ids) {
  if (!adapters_enabled()) {
    prepare_disabled_forward();
    return base_->forward(ids);
  }
  return rotate(base_->forward(ids));
}

}  // namespace oft
