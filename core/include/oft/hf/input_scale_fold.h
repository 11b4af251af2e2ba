#pragma once
// Folding a per-channel input scale s into a model (input_scale_groups.h): the producer's output is
// divided by s and each reader's weight columns are multiplied by s, so the model's function is
// unchanged up to float rounding while the readers' weights become W diag(s).
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "oft/export.h"
#include "oft/hf/input_scale_groups.h"

namespace oft::models {

// `root`'s modules named by `group` are changed in place (no autograd): a Norm producer's "weight" and
// "bias" divided by `scale`; a Linear producer's output rows and bias divided; each reader's input
// columns multiplied (Conv1D's transposed layout included). `scale`: (in,) positive. UsageError naming the
// module for a missing module, a reader that is not a dense linear, or a shape that does not fit s.
OFT_CORE_API void fold_input_scale(torch::nn::Module& root, const InputScaleGroup& group, const at::Tensor& scale);

}  // namespace oft::models
