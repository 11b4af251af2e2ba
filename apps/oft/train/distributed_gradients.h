#pragma once
// Sums the gradients of the trainable tensors over the ranks: each rank's loss is already weighted by
// its share of the global batch, so the sum is the one-process gradient. Only the tensors given
// (adapters, modules_to_save, trained biases) travel; the frozen base never does. They are flattened
// into buckets of about bucket_bytes, filled from autograd hooks during the backward, each bucket's
// all-reduce starting as soon as it is full, so communication overlaps the rest of the backward.
// Buckets start in a fixed order on every rank (c10d requires it): the reverse of the parameter
// order, the order the backward produces them in; a bucket waits for the ones before it.
// A tensor no rank produced a gradient for (unused in the forward) ends with no gradient, as in one
// process, so AdamW skips it (no weight decay, no moment update): each bucket carries one has-gradient
// flag per tensor, summed with the gradients in the same all-reduce.
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "distributed_group.h"

namespace oft::app {

class GradientBuckets {
 public:
  // With no group or one rank there is nothing to do and no hook is installed.
  GradientBuckets(const std::vector<at::Tensor>& params, DataParallelGroup* group);
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  void begin_step();  // before the backward
  // After the backward (or instead of it, for a rank whose share was empty): starts the buckets still
  // waiting (a tensor that got no gradient on this rank counts as zeros) and `extras` (e.g. the
  // weighted loss), waits for all and writes the sums to the tensors' .grad; a tensor that got no
  // gradient on any rank is left with an undefined .grad.
  void finish(const std::vector<at::Tensor>& extras);

 private:
  struct Bucket {
    std::vector<at::Tensor> params;
    std::vector<int64_t> offsets;  // of each param's gradient in `flat`
    int64_t numel = 0;             // of the gradients; `flat` then holds one has-gradient flag per param
    at::Tensor flat;
    size_t pending = 0;  // params whose gradient has not arrived this step
  };
  void start_ready_buckets();

  DataParallelGroup* group_ = nullptr;
  std::vector<Bucket> buckets_;
  size_t next_ = 0;  // the first bucket not started this step
  std::vector<std::function<void()>> waits_;
  std::vector<std::pair<at::Tensor, unsigned>> hooks_;
};

}  // namespace oft::app
