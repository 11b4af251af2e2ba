// GradientBuckets over two Gloo ranks (two threads of this process) against one process: the summed
// gradients give the one-process AdamW steps, and a trainable tensor no rank produced a gradient for
// is skipped by AdamW (no weight decay, no moments), as one process skips a tensor whose .grad is
// undefined. A tensor only one rank's share uses still gets that rank's gradient on every rank.
#include <gtest/gtest.h>

#include <exception>
#include <thread>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include "distributed_gradients.h"
#include "distributed_group.h"
#include "distributed_supervisor.h"

namespace {

using oft::app::DataParallelGroup;
using oft::app::GradientBuckets;

constexpr int64_t kBatch = 4;
constexpr int kSteps = 3;

// a: used by every example; c: used by example 0 only (so by rank 0's share only); b: never used.
struct Params {
  at::Tensor a = at::linspace(-1, 1, 12, at::kDouble).reshape({4, 3}).requires_grad_();
  at::Tensor b = at::linspace(0.5, 1.5, 5, at::kDouble).requires_grad_();
  at::Tensor c = at::tensor({0.3, -0.7}, at::kDouble).requires_grad_();
  std::vector<at::Tensor> all() const { return {a, b, c}; }
};

// The loss of examples [begin, end) of the step's batch, as their part of the batch mean (so the
// shares' losses add up to the one-process loss, as trainer.cpp weights them).
at::Tensor share_loss(const Params& p, int step, int64_t begin, int64_t end) {
  const at::Tensor x = at::sin(at::arange(kBatch * 3, at::kDouble) + step).reshape({kBatch, 3});
  const at::Tensor y = at::cos(at::arange(kBatch * 4, at::kDouble) * 0.5 + step).reshape({kBatch, 4});
  const at::Tensor rows = at::arange(begin, end, at::kLong);
  at::Tensor loss = (x.index_select(0, rows).mm(p.a.t()) - y.index_select(0, rows)).pow(2).sum();
  if (begin == 0 && end > 0) loss = loss + (p.c * x[0].slice(0, 0, 2)).sum().pow(2);
  return loss / static_cast<double>(kBatch);
}

// kSteps AdamW steps with weight decay; `group` null: one process on the whole batch.
void train(Params& p, DataParallelGroup* group) {
  torch::optim::AdamW optimizer(p.all(), torch::optim::AdamWOptions(0.1).weight_decay(0.1));
  GradientBuckets buckets(p.all(), group);
  const int rank = group ? group->rank() : 0, world = group ? group->world_size() : 1;
  const int64_t share = kBatch / world;
  for (int step = 0; step < kSteps; ++step) {
    optimizer.zero_grad();
    buckets.begin_step();
    const at::Tensor loss = share_loss(p, step, rank * share, (rank + 1) * share);
    loss.backward();
    buckets.finish({loss.detach()});
    optimizer.step();
  }
}

// Trains two ranks (threads) with buckets of `bucket_bytes`; returns rank 0's and rank 1's params.
std::vector<Params> train_two_ranks(int64_t bucket_bytes) {
  const int port = oft::app::free_local_port();
  std::vector<Params> params(2);
  std::vector<std::exception_ptr> errors(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      try {
        oft::app::DistributedOptions options;
        options.timeout = std::chrono::seconds(30);
        options.bucket_bytes = bucket_bytes;
        DataParallelGroup group(
            {.rank = r, .world_size = 2, .local_rank = r, .master_addr = "127.0.0.1", .master_port = port}, options);
        train(params[static_cast<size_t>(r)], &group);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : ranks) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return params;
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  const double scale = expected.abs().max().item<double>();
  EXPECT_LE((actual - expected).abs().max().item<double>(), 1e-10 * scale) << what;
}

class DistributedGradients : public ::testing::TestWithParam<int64_t> {};

TEST_P(DistributedGradients, TwoRanksStepLikeOneProcessAndSkipAnUnusedTensor) {
  Params alone;
  const at::Tensor b0 = alone.b.detach().clone(), c0 = alone.c.detach().clone();
  train(alone, nullptr);
  // One process: b got no gradient, so AdamW left it alone (weight decay would have shrunk it); c moved.
  EXPECT_TRUE(alone.b.equal(b0));
  EXPECT_GT((alone.c - c0).abs().max().item<double>(), 1e-3);

  const std::vector<Params> ranks = train_two_ranks(GetParam());
  for (int r = 0; r < 2; ++r) {
    const auto& p = ranks[static_cast<size_t>(r)];
    const std::string rank = "rank " + std::to_string(r);
    expect_close(p.a, alone.a, rank + " a");
    expect_close(p.c, alone.c, rank + " c (only rank 0's share uses it)");
    EXPECT_TRUE(p.b.equal(b0)) << rank << " b (no rank uses it) moved: " << p.b;
    EXPECT_FALSE(p.b.grad().defined()) << rank;
  }
}

// One bucket per tensor (16 bytes) and one bucket for all three.
INSTANTIATE_TEST_SUITE_P(BucketSizes, DistributedGradients, ::testing::Values(int64_t{16}, int64_t{1} << 20));

}  // namespace
