#include "sequence_classifier.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>

#include "oft/errors.h"

namespace oft::app {

SequenceClassifier::SequenceClassifier(models::Pretrained encoder_model, int64_t num_labels)
    : encoder(std::move(encoder_model)) {
  if (encoder.output_name != "last_hidden_state")
    throw UsageError("sequence classification needs an encoder model (BERT); " + encoder.info.model_type + " returns " +
                     encoder.output_name);
  register_module(encoder.info.model_type, encoder.module);
  const int64_t hidden = encoder.config.at("hidden_size").get<int64_t>();
  register_layer("classifier", classifier, torch::nn::Linear(hidden, num_labels));
  const auto parameters = encoder.module->parameters();
  if (!parameters.empty()) device_ = parameters.front().device();
}

at::Tensor SequenceClassifier::embed(const at::Tensor& input_ids, const at::Tensor& attention_mask) {
  const at::Tensor mask_on_device = attention_mask.to(device_);
  const at::Tensor hidden = encoder.forward(input_ids.to(device_), mask_on_device);
  const at::Tensor mask = mask_on_device.unsqueeze(-1).to(hidden.scalar_type());
  return ((hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)).to(at::kCPU, at::kFloat);
}

at::Tensor SequenceClassifier::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) {
  return classify(embed(input_ids, attention_mask));
}

ModelInfo SequenceClassifier::info() const {
  ModelInfo info = encoder.info;
  info.output_layer.clear();
  return info;
}

}  // namespace oft::app
