#pragma once
// A sentence classifier over an encoder (BERT / MiniLM): mean of the last hidden states over the
// attention mask (sentence-transformers' pooling for all-MiniLM-L6-v2), then a linear head.
// Module names: "<model_type>.<encoder names>" and "classifier", as transformers'
// BertForSequenceClassification names them, so PEFT's default targets and modules_to_save apply.
// The encoder may live on any device in any dtype; the head is fp32 on the CPU (it is tiny): token ids go to the
// encoder's device and the pooled embeddings come back to the CPU in fp32.
#include <memory>

#include "oft/hf/pretrained.h"
#include "oft/nn/adaptable_module.h"

namespace oft::app {

class SequenceClassifier : public AdaptableModule {
 public:
  SequenceClassifier(models::Pretrained encoder, int64_t num_labels);
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask);
  // The pooled sentence embedding (batch, hidden).
  at::Tensor embed(const at::Tensor& input_ids, const at::Tensor& attention_mask);
  at::Tensor classify(const at::Tensor& embeddings) { return classifier(embeddings); }
  // What OFTModel needs: the encoder's model_type (PEFT's default targets), no output layer.
  ModelInfo info() const;

  models::Pretrained encoder;
  LayerSlot classifier;

 private:
  c10::Device device_ = c10::kCPU;  // the encoder's
};

}  // namespace oft::app
