#include "classification_eval.h"

#include <functional>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace oft::app {
namespace {

using BatchFn = std::function<at::Tensor(const TextClassificationData&)>;

at::Tensor over_batches(const TextClassificationData& data, const BatchFn& f) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (int64_t begin = 0; begin < data.size(); begin += 64)
    parts.push_back(f(data.select(at::arange(begin, std::min<int64_t>(begin + 64, data.size()), at::kLong))));
  return at::cat(parts);
}

}  // namespace

at::Tensor logits_of(SequenceClassifier& model, const TextClassificationData& data) {
  return over_batches(data, [&](const auto& b) { return model.forward(b.input_ids, b.attention_mask); });
}

at::Tensor embeddings_of(SequenceClassifier& model, const TextClassificationData& data) {
  return over_batches(data, [&](const auto& b) { return model.embed(b.input_ids, b.attention_mask); });
}

at::Tensor sharded_logits_of(SequenceClassifier& model, const TextClassificationData& data, int64_t num_labels,
                             DataParallelGroup& group) {
  if (group.world_size() == 1) return logits_of(model, data);
  const ShareRange range = contiguous_share(data.size(), group.rank(), group.world_size());
  at::Tensor mine;
  if (range.end > range.begin)
    mine = over_batches(data.select(at::arange(range.begin, range.end, at::kLong)),
                        [&](const auto& b) { return model.forward(b.input_ids, b.attention_mask); });
  // Gathered by summing: each rank fills its rows and leaves zeros elsewhere.
  at::Tensor all = at::zeros({data.size(), num_labels}, at::kFloat);
  if (mine.defined()) all.slice(0, range.begin, range.end).copy_(mine);
  group.all_reduce_sum({all});
  return all;
}

double accuracy(const at::Tensor& logits, const at::Tensor& labels) {
  return logits.argmax(-1).eq(labels).to(at::kDouble).mean().item<double>();
}

}  // namespace oft::app
