#pragma once
// OFT over Embedding (PEFT's oft.Embedding): e = E[ids] . R_a1 . R_a2 ...; merging gives E . R.
// Adapters live in "oft_embedding_R", as in PEFT's files.
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include "oft/adapter/oft_layer.h"
#include "oft/export.h"

namespace oft {

class OFT_CORE_API OFTEmbeddingImpl : public OFTLayer {
 public:
  explicit OFTEmbeddingImpl(torch::nn::Embedding base);

  at::Tensor forward(const at::Tensor& ids);

  torch::nn::Embedding& base() { return base_; }
  std::shared_ptr<torch::nn::Module> base_module() const override { return base_.ptr(); }
  int64_t rotated_features() const override { return base_->weight.size(1); }

 protected:
  at::Tensor weight_matrix() override { return base_->weight; }
  void set_weight_matrix(const at::Tensor& weight) override { base_->weight.copy_(weight); }
  c10::Device base_device() const override { return base_->weight.device(); }
  c10::ScalarType base_dtype() const override { return base_->weight.scalar_type(); }
  bool rotates_output() const override { return true; }

 private:
  torch::nn::Embedding base_;
};
TORCH_MODULE(OFTEmbedding);

}  // namespace oft
