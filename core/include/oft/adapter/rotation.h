#pragma once
// OFTRotation: one adapter's trainable rotation on one layer, PEFT's OFTRotationModule. It owns the
// only trainable tensor, `weight` (blocks x b(b-1)/2), and turns it into rotation blocks.
#include <cstdint>
#include <mutex>
#include <optional>

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "oft/export.h"
#include "oft/sdk/tensor_stamp.h"

namespace oft {

struct RotationSpec {
  int64_t features = 0;    // d: the size of the rotated dimension
  int64_t block_size = 0;  // b; d / b blocks
  bool block_share = false;
  bool coft = false;
  double eps = 6e-5;
  bool use_cayley_neumann = true;
  int64_t num_cayley_neumann_terms = 5;
  double dropout = 0.0;  // multiplicative dropout probability, applied in training only

  int64_t num_blocks() const { return features / block_size; }
  int64_t stored_blocks() const { return block_share ? 1 : num_blocks(); }
  int64_t vector_length() const { return block_size * (block_size - 1) / 2; }
};

class OFT_CORE_API OFTRotationImpl : public torch::nn::Module {
 public:
  // The weight is created with `options` (device and dtype; the meta device allocates nothing).
  explicit OFTRotationImpl(const RotationSpec& spec, const at::TensorOptions& options = {});

  // init_weights=true: zeros (identity rotation); false: Normal(0, 0.1), as PEFT.
  void reset(bool identity);

  // Rotation blocks (stored_blocks, b, b) in the weight's dtype, without dropout. COFT projects the
  // weight in place first (as PEFT does). When no gradient is needed (eval, merging) the result is
  // cached and rebuilt only after the weight changes (not cached for an inference tensor weight). Thread-safe then.
  at::Tensor blocks();
  // The blocks a forward uses: blocks() with multiplicative dropout in training.
  at::Tensor effective_blocks();
  // x (..., d) -> x . R, with multiplicative dropout in training, computed in at least fp32: returned in x's dtype
  // where a kernel runs (CUDA's, or the CPU's, oft/adapter/cpu_rotation.h), else in the weight's (callers cast back
  // once, after the last adapter, as PEFT does).
  at::Tensor forward(const at::Tensor& x);
  // The dense (d, d) block-diagonal R, as PEFT's get_weight().
  at::Tensor dense();

  const RotationSpec& spec() const { return spec_; }
  at::Tensor weight;

 private:
  at::Tensor compute_blocks();
  bool cache_valid() const;

  RotationSpec spec_;
  std::mutex cache_mutex_;  // concurrent eval forwards share the cache and COFT's write-back
  at::Tensor cached_blocks_;
  std::optional<sdk::TensorStamp> cached_stamp_;  // the weight cached_blocks_ was computed from
};
TORCH_MODULE(OFTRotation);

}  // namespace oft
