#pragma once
// The layer an OFT Linear wrapper sits on: a dense Linear, a GPT-2 style Conv1D, or a backend's
// quantized linear. The wrapper rotates the input, calls forward(), and for merging reads and
// writes the weight as a dense (out_features, in_features) matrix; the layer decides whether and
// how its weight may be rewritten (merge_policy).
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>

#include "oft/sdk/visibility.h"

namespace oft::sdk {

enum class MergeMode {
  Exact,       // the weight is stored densely: merging is exact up to float rounding
  Requantize,  // dequantize, rotate, quantize again: outputs change by the format's rounding
  Refused,     // the format cannot take a rotated weight (reason says why)
};

struct MergePolicy {
  MergeMode mode = MergeMode::Exact;
  std::string reason;  // shown to users for Requantize (as a warning) and Refused (as the error)
};

class OFT_SDK_VISIBLE LinearBase {
 public:
  virtual ~LinearBase() = default;

  // The module holding the layer's tensors; the OFT wrapper registers it as "base_layer", so
  // parameter names read "<path>.base_layer.weight" as in PEFT.
  virtual std::shared_ptr<torch::nn::Module> module() = 0;
  virtual std::string type_name() const = 0;
  virtual int64_t in_features() const = 0;
  virtual int64_t out_features() const = 0;
  // The dtype the layer computes in (its input is cast back to this after rotation).
  virtual c10::ScalarType compute_dtype() const = 0;
  virtual c10::Device device() const = 0;

  // y = x W^T + b for x (..., in_features).
  virtual at::Tensor forward(const at::Tensor& x) = 0;

  virtual MergePolicy merge_policy() const = 0;
  // The weight as a dense (out_features, in_features) tensor (dequantized where needed).
  virtual at::Tensor dense_weight() = 0;
  // Stores a dense (out_features, in_features) weight (quantizing it where needed).
  virtual void set_dense_weight(const at::Tensor& weight) = 0;
};

}  // namespace oft::sdk
