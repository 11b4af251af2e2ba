#pragma once
// Reused memory for a dequantized weight that lives only within one call on this thread: the W that
// sdk::linear_recomputing_weight multiplies and drops, in a training forward and again in its backward. Fresh memory
// of that size costs a page fault per 4 KiB, more than decoding the weight into it (NF4, a 4-layer LLaMA-shaped
// model, hidden 2048: 2.00 -> 1.82 s per training step). Memory another tensor still references is never handed out
// again, so a W that does outlive its call stays intact (the next call gets fresh memory). The price: each thread
// that trains keeps one buffer as large as its largest such W, per plugin.
//
// Header-only, not part of the plugin ABI (tests/abi leaves it out): each plugin compiles its own copy, so each has
// its own buffer and scope.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/ScalarType.h>
#include <c10/util/accumulate.h>

namespace oft::sdk {

namespace detail {

inline int& transient_weight_scope_depth() {
  thread_local int depth = 0;
  return depth;
}

inline at::Tensor& transient_weight_bytes() {
  thread_local at::Tensor bytes;
  return bytes;
}

}  // namespace detail

// While one is alive on this thread, weight_buffer() hands out the reused memory (linear_recomputing_weight opens
// one around each call of its weight function).
class TransientWeightScope {
 public:
  TransientWeightScope() { ++detail::transient_weight_scope_depth(); }
  ~TransientWeightScope() { --detail::transient_weight_scope_depth(); }
  TransientWeightScope(const TransientWeightScope&) = delete;
  TransientWeightScope& operator=(const TransientWeightScope&) = delete;
};

// Within it, weight_buffer() is at::empty again: for a weight that is kept (DequantizedWeightCache opens one).
class KeptWeightScope {
 public:
  KeptWeightScope() : outer_depth_(detail::transient_weight_scope_depth()) {
    detail::transient_weight_scope_depth() = 0;
  }
  ~KeptWeightScope() { detail::transient_weight_scope_depth() = outer_depth_; }
  KeptWeightScope(const KeptWeightScope&) = delete;
  KeptWeightScope& operator=(const KeptWeightScope&) = delete;

 private:
  int outer_depth_;
};

// A contiguous CPU tensor of `sizes` and `dtype` for a whole dequantized weight, uninitialized: inside a
// TransientWeightScope this thread's reused memory (unless another tensor still holds it), else at::empty.
inline at::Tensor weight_buffer(at::IntArrayRef sizes, c10::ScalarType dtype) {
  if (detail::transient_weight_scope_depth() == 0) return at::empty(sizes, at::TensorOptions().dtype(dtype));
  const int64_t bytes = c10::multiply_integers(sizes) * static_cast<int64_t>(c10::elementSize(dtype));
  at::Tensor& buffer = detail::transient_weight_bytes();
  if (!buffer.defined() || buffer.numel() < bytes || buffer.storage().use_count() > 1) {
    buffer = at::Tensor();  // dropped first: the old and the new buffer are never both held here
    buffer = at::empty({bytes}, at::kByte);
  }
  return buffer.narrow(0, 0, bytes).view(dtype).view(sizes);
}

}  // namespace oft::sdk
