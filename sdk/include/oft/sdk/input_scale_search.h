#pragma once
// An optional quantizer capability: the activation-aware input scale of AWQ-like methods. A format
// whose quantizer gains from dividing a layer's input by a per-channel scale s (and multiplying the
// weight's columns by s) implements this next to LinearFormat (multiple inheritance); the host finds it
// with dynamic_cast<const InputScaleSearch*>(format). Checkpoints store no input scale, so the host folds
// s into the op that produces the input (a norm's weight and bias, or the output rows of the linear
// before) and into every linear that reads it, then quantizes those linears with quantize() as usual,
// giving them the calibration inputs divided by s.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "oft/sdk/visibility.h"

namespace oft::sdk {

// \since ABI 2.1.
class OFT_SDK_VISIBLE InputScaleSearch {
 public:
  virtual ~InputScaleSearch() = default;

  // The scale s (in_features,), positive and finite, for the linears whose float weights
  // (out_i, in_features) are `weights_reading_one_input` (all read the same input), given the quantize
  // options (as for LinearFormat::quantize) and calibration inputs (N, in_features) of that input. An
  // undefined tensor when `options_json` turns the search off. Throws std::invalid_argument naming the
  // option or tensor for bad input.
  virtual at::Tensor search_input_scale(const std::vector<at::Tensor>& weights_reading_one_input,
                                        const std::string& options_json, const at::Tensor& calibration) const = 0;
};

}  // namespace oft::sdk
