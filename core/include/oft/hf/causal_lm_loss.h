#pragma once
// transformers' causal-LM loss: the cross-entropy, in fp32, of each position's logits against the next
// position's label, ignoring labels of -100. Like transformers, it moves the labels left by one instead of
// slicing the logits, so the (batch, seq, vocab) logits are used where they lie: slicing them would copy all
// but one position of them (half a GiB for 8 x 1024 tokens of a 32000-token vocabulary in bf16).
#include <cstdint>

#include <ATen/core/Reduction.h>
#include <ATen/core/Tensor.h>

#include "oft/export.h"

namespace oft::models {

// logits (batch, seq, vocab) of a floating dtype; labels (batch, seq) int64 on the logits' device, -100 for
// positions without a target. The mean over the targets (at::Reduction::Mean), or their sum.
OFT_CORE_API at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels,
                                       int64_t reduction = at::Reduction::Mean);

}  // namespace oft::models
