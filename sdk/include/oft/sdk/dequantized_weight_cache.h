#pragma once
// An opt-in cache of a quantized layer's dequantized weight (or of anything else a layer computes from its
// tensors), for layers that dequantize on every forward. Holding the dense copy costs memory, so it is off
// until enabled (plugins expose it as the config option "cache_dequantized"). The weight is recomputed when any
// of its source tensors changes (TensorStamp: an in-place write, a new storage as Module::to makes, another dtype
// or device); inference tensors have no version counter, so with one among the sources nothing is kept.
// Not thread-safe: with it on, forward must not run concurrently on one layer.
//
// Header-only, not part of the plugin ABI: each layer holds one by value inside its own plugin, which
// compiles its own copy (tests/abi leaves this header out).
#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "oft/sdk/tensor_stamp.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::sdk {

class DequantizedWeightCache {
 public:
  bool enabled() const { return enabled_; }
  // Either way drops what is held.
  void set_enabled(bool enabled) {
    enabled_ = enabled;
    weight_ = at::Tensor();
    stamps_.clear();
  }

  // compute() when disabled; else the held weight while `sources` are unchanged, or compute()'s new one.
  template <typename Compute>
  at::Tensor get(std::initializer_list<const at::Tensor*> sources, Compute&& compute) {
    const bool keep = enabled_ && std::all_of(sources.begin(), sources.end(),
                                              [](const at::Tensor* t) { return TensorStamp::trackable(*t); });
    if (keep && weight_.defined() && matches(sources)) return weight_;
    at::Tensor weight;
    if (keep) {
      const KeptWeightScope kept;  // never the reused buffer of sdk::weight_buffer
      weight = std::forward<Compute>(compute)();
    } else {
      weight = std::forward<Compute>(compute)();
    }
    if (keep) {
      weight_ = weight;
      stamps_.clear();
      for (const at::Tensor* t : sources) stamps_.emplace_back(*t);
    } else {  // nothing stale stays held
      weight_ = at::Tensor();
      stamps_.clear();
    }
    return weight;
  }

 private:
  bool matches(std::initializer_list<const at::Tensor*> sources) const {
    if (stamps_.size() != sources.size()) return false;
    auto stamp = stamps_.begin();
    for (const at::Tensor* t : sources)
      if (!(stamp++)->matches(*t)) return false;
    return true;
  }

  bool enabled_ = false;
  at::Tensor weight_;
  std::vector<TensorStamp> stamps_;
};

}  // namespace oft::sdk
