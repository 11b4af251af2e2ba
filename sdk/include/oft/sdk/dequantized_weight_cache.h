#pragma once
// An opt-in cache of a quantized layer's dequantized weight, for layers that dequantize on every
// forward. Holding the dense copy costs memory, so it is off until enabled (plugins expose it as
// the config option "cache_dequantized"). The weight is recomputed when any of its source tensors
// changes: a new storage (set_, a reassigned buffer) or an in-place write (the version counter).
// Not thread-safe: with it on, forward must not run concurrently on one layer.
//
// Header-only, not part of the plugin ABI: each layer holds one by value inside its own plugin, which
// compiles its own copy (tests/abi leaves this header out).
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace oft::sdk {

class DequantizedWeightCache {
 public:
  bool enabled() const { return enabled_; }
  // Either way drops what is held.
  void set_enabled(bool enabled) {
    enabled_ = enabled;
    weight_ = at::Tensor();
    versions_.clear();
  }

  // compute() when disabled; else the held weight while `sources` are unchanged, or compute()'s new one.
  template <typename Compute>
  at::Tensor get(std::initializer_list<const at::Tensor*> sources, Compute&& compute) {
    if (enabled_ && weight_.defined() && versions_ == versions_of(sources)) return weight_;
    at::Tensor weight = std::forward<Compute>(compute)();
    if (enabled_) {
      weight_ = weight;
      versions_ = versions_of(sources);
    }
    return weight;
  }

 private:
  using Versions = std::vector<std::pair<const void*, uint32_t>>;

  static Versions versions_of(std::initializer_list<const at::Tensor*> sources) {
    Versions versions;
    versions.reserve(sources.size());
    for (const at::Tensor* t : sources) versions.emplace_back(t->data_ptr(), static_cast<uint32_t>(t->_version()));
    return versions;
  }

  bool enabled_ = false;
  at::Tensor weight_;
  Versions versions_;
};

}  // namespace oft::sdk
