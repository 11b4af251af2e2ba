#include "oft/hf/causal_lm_loss.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace oft::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kIgnored = -100;
constexpr int64_t kChunkFloats = int64_t{16} << 20;  // 64 MiB of fp32 logits per chunk

// Cross-entropy of rows of logits (rows, vocab) in fp32 against targets (rows), kIgnored for none.
class ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& targets,
                            int64_t reduction, int64_t chunk) {
    const int64_t rows = logits.size(0);
    const at::Tensor counted = targets.ne(kIgnored);
    const at::Tensor safe_targets = targets.masked_fill(counted.logical_not(), 0).unsqueeze(1);
    at::Tensor log_sum_exp = at::empty({rows}, logits.options().dtype(at::kFloat));
    at::Tensor losses = at::empty({rows}, log_sum_exp.options());
    for (int64_t first = 0; first < rows; first += chunk) {
      const int64_t count = std::min(chunk, rows - first);
      const at::Tensor part = logits.narrow(0, first, count).to(at::kFloat);
      const at::Tensor lse = at::logsumexp(part, 1);
      log_sum_exp.narrow(0, first, count).copy_(lse);
      losses.narrow(0, first, count).copy_(lse - part.gather(1, safe_targets.narrow(0, first, count)).squeeze(1));
    }
    const at::Tensor total = losses.masked_fill(counted.logical_not(), 0).sum();
    // The mean divides by the count of targets on the device: no synchronization to read it.
    const at::Tensor scale = reduction == at::Reduction::Mean ? counted.sum().to(at::kFloat).reciprocal()
                                                              : at::ones({}, log_sum_exp.options());
    ctx->save_for_backward({logits, safe_targets, counted, log_sum_exp, scale});
    ctx->saved_data["chunk"] = chunk;
    return total * scale;
  }

  // d loss / d logits[r] = scale * (softmax(logits[r]) - onehot(target[r])) for rows with a target, 0 otherwise.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &logits = saved[0], &safe_targets = saved[1], &counted = saved[2], &log_sum_exp = saved[3];
    // Rows without a target get 0 (not 0 times an infinite scale when the batch has no target at all).
    const at::Tensor row_scale = at::where(counted, saved[4] * grads[0].to(at::kFloat), 0.0);
    const int64_t rows = logits.size(0), chunk = ctx->saved_data["chunk"].toInt();
    at::Tensor dlogits = at::empty_like(logits);
    for (int64_t first = 0; first < rows; first += chunk) {
      const int64_t count = std::min(chunk, rows - first);
      at::Tensor softmax =
          (logits.narrow(0, first, count).to(at::kFloat) - log_sum_exp.narrow(0, first, count).unsqueeze(1)).exp_();
      softmax.scatter_add_(1, safe_targets.narrow(0, first, count), at::full({count, 1}, -1.0, softmax.options()));
      dlogits.narrow(0, first, count).copy_(softmax.mul_(row_scale.narrow(0, first, count).unsqueeze(1)));
    }
    return {dlogits, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels, int64_t reduction,
                          int64_t rows_per_chunk) {
  if (logits.dim() != 3 || labels.dim() != 2 || labels.size(0) != logits.size(0) || labels.size(1) != logits.size(1))
    throw std::invalid_argument("causal LM loss: expected logits (batch, seq, vocab) and labels (batch, seq), got " +
                                std::to_string(logits.dim()) + " and " + std::to_string(labels.dim()) +
                                " dimensions of sizes " + c10::str(logits.sizes()) + " and " +
                                c10::str(labels.sizes()));
  if (reduction != at::Reduction::Mean && reduction != at::Reduction::Sum)
    throw std::invalid_argument("causal LM loss: reduction must be Mean or Sum");
  if (rows_per_chunk < 0) throw std::invalid_argument("causal LM loss: rows_per_chunk must be >= 0 (0: automatic)");
  const int64_t vocab = std::max<int64_t>(logits.size(2), 1);
  const int64_t chunk = rows_per_chunk > 0 ? rows_per_chunk : std::max<int64_t>(kChunkFloats / vocab, 1);
  // Position t's target is label t + 1; the last position has none.
  const at::Tensor targets = at::constant_pad_nd(labels.slice(1, 1), {0, 1}, kIgnored).reshape({-1});
  return ChunkedCrossEntropy::apply(logits.reshape({-1, logits.size(2)}), targets, reduction, chunk);
}

}  // namespace oft::models
