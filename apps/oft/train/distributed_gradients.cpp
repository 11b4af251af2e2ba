#include "distributed_gradients.h"

#include <ATen/ATen.h>

namespace oft::app {

GradientBuckets::GradientBuckets(const std::vector<at::Tensor>& params, DataParallelGroup* group) {
  if (!group || group->world_size() == 1) return;
  group_ = group;
  for (auto p = params.rbegin(); p != params.rend(); ++p) {
    const int64_t bytes = p->numel() * static_cast<int64_t>(p->element_size());
    const at::Tensor& first = buckets_.empty() ? *p : buckets_.back().params.front();
    if (buckets_.empty() || first.scalar_type() != p->scalar_type() || first.device() != p->device() ||
        (buckets_.back().numel * static_cast<int64_t>(p->element_size()) + bytes > group->bucket_bytes()))
      buckets_.emplace_back();
    Bucket& bucket = buckets_.back();
    bucket.params.push_back(*p);
    bucket.offsets.push_back(bucket.numel);
    bucket.numel += p->numel();
  }
  for (size_t b = 0; b < buckets_.size(); ++b)
    for (size_t i = 0; i < buckets_[b].params.size(); ++i) {
      const at::Tensor& p = buckets_[b].params[i];
      const int64_t offset = buckets_[b].offsets[i], numel = p.numel(),
                    flag = buckets_[b].numel + static_cast<int64_t>(i);
      const unsigned handle = p.register_hook([this, b, offset, numel, flag](const at::Tensor& grad) {
        Bucket& bucket = buckets_[b];
        bucket.flat.slice(0, offset, offset + numel).copy_(grad.reshape({-1}));
        bucket.flat.narrow(0, flag, 1).fill_(1);
        if (--bucket.pending == 0) start_ready_buckets();
      });
      hooks_.emplace_back(p, handle);
    }
}

GradientBuckets::~GradientBuckets() {
  for (auto& [p, handle] : hooks_) p.remove_hook(handle);
}

void GradientBuckets::begin_step() {
  for (auto& bucket : buckets_) {
    const auto flags = static_cast<int64_t>(bucket.params.size());
    bucket.flat = at::zeros({bucket.numel + flags}, bucket.params.front().options().requires_grad(false));
    bucket.pending = bucket.params.size();
  }
  next_ = 0;
  waits_.clear();
}

void GradientBuckets::start_ready_buckets() {
  for (; next_ < buckets_.size() && buckets_[next_].pending == 0; ++next_)
    waits_.push_back(group_->start_all_reduce_sum(buckets_[next_].flat));
}

void GradientBuckets::finish(const std::vector<at::Tensor>& extras) {
  if (!group_) return;
  for (auto& bucket : buckets_) bucket.pending = 0;
  start_ready_buckets();
  for (const auto& extra : extras) waits_.push_back(group_->start_all_reduce_sum(extra));
  for (const auto& wait : waits_) wait();
  at::NoGradGuard no_grad;
  for (const auto& bucket : buckets_) {
    // How many ranks produced each tensor's gradient (one copy to the host per bucket).
    const at::Tensor producers = bucket.flat.slice(0, bucket.numel).to(at::kCPU, at::kFloat);
    for (size_t i = 0; i < bucket.params.size(); ++i) {
      const at::Tensor& p = bucket.params[i];
      if (producers.data_ptr<float>()[i] == 0) {
        p.mutable_grad().reset();  // as one process leaves it: AdamW skips the tensor
        continue;
      }
      const at::Tensor sum = bucket.flat.slice(0, bucket.offsets[i], bucket.offsets[i] + p.numel()).view_as(p);
      if (p.grad().defined())
        p.mutable_grad().copy_(sum);
      else
        p.mutable_grad() = sum.clone();
    }
  }
}

}  // namespace oft::app
