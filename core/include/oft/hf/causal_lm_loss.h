#pragma once
// transformers' causal-LM loss: the cross-entropy, in fp32, of each position's logits against the next
// position's label, ignoring labels of -100. Like transformers, it moves the labels left by one instead of
// slicing the logits, so the (batch, seq, vocab) logits are used where they lie: slicing them would copy all
// but one position of them (half a GiB for 8 x 1024 tokens of a 32000-token vocabulary in bf16).
// It also never holds the logits in fp32 as a whole: it works through them a chunk of rows at a time, keeps the
// logits in their own dtype and one log-sum-exp per row for the backward, and writes the gradient in the logits'
// dtype. Casting them all to fp32 and differentiating cross_entropy keeps a fp32 log-softmax of the logits for the
// backward and makes two more fp32 tensors of that size in it (3 GiB more at that size than the logits).
#include <cstdint>

#include <ATen/core/Reduction.h>
#include <ATen/core/Tensor.h>

#include "oft/export.h"

namespace oft::models {

// logits (batch, seq, vocab) of a floating dtype; labels (batch, seq) int64 on the logits' device, -100 for
// positions without a target. The mean over the targets (at::Reduction::Mean; NaN without targets, as
// cross_entropy), or their sum. rows_per_chunk: rows of logits converted to fp32 at a time (0: as many as fit
// 64 MiB of fp32). Differentiable in logits.
OFT_CORE_API at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels,
                                       int64_t reduction = at::Reduction::Mean, int64_t rows_per_chunk = 0);

}  // namespace oft::models
