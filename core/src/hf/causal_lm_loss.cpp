#include "oft/hf/causal_lm_loss.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

namespace oft::models {

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels, int64_t reduction) {
  if (logits.dim() != 3 || labels.dim() != 2 || labels.size(0) != logits.size(0) || labels.size(1) != logits.size(1))
    throw std::invalid_argument("causal LM loss: expected logits (batch, seq, vocab) and labels (batch, seq), got " +
                                std::to_string(logits.dim()) + " and " + std::to_string(labels.dim()) +
                                " dimensions of sizes " + c10::str(logits.sizes()) + " and " +
                                c10::str(labels.sizes()));
  // Position t's target is label t + 1; the last position has none.
  const at::Tensor targets = at::constant_pad_nd(labels.slice(1, 1), {0, 1}, -100).reshape({-1});
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}).to(at::kFloat), targets, {}, reduction, -100);
}

}  // namespace oft::models
