#pragma once
// Running a SequenceClassifier over a whole data set (no gradients, batches of 64).
#include <ATen/core/Tensor.h>

#include "distributed_group.h"
#include "sequence_classifier.h"
#include "text_classification_data.h"

namespace oft::app {

at::Tensor logits_of(SequenceClassifier& model, const TextClassificationData& data);      // (N, labels)
at::Tensor embeddings_of(SequenceClassifier& model, const TextClassificationData& data);  // (N, hidden)
// logits_of with each rank of `group` running its contiguous share of the rows; every rank gets all.
at::Tensor sharded_logits_of(SequenceClassifier& model, const TextClassificationData& data, int64_t num_labels,
                             DataParallelGroup& group);
double accuracy(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace oft::app
