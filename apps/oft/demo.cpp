// `oft demo`: a self-contained OFT run on one Linear layer. A frozen layer W must learn to act like
// W after an unknown block rotation of its input; only the OFT adapter trains. Prints the loss as
// it falls, then merges the adapter and checks the merged layer gives the same outputs.
#include <chrono>
#include <cstdio>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/optim/adam.h>

#include "commands.h"
#include "oft/layers/linear.h"
#include "oft/rotation_math.h"

namespace oft::app {
namespace {

struct DemoOptions {
  int64_t features = 256;
  int64_t block_size = 32;
  int64_t steps = 200;
  double lr = 5e-3;
  uint64_t seed = 0;
};

int run_demo(const DemoOptions& o) {
  at::manual_seed(o.seed);
  torch::nn::Linear base(o.features, o.features);
  for (auto& p : base->parameters()) p.set_requires_grad(false);

  // The hidden target: a random block rotation (exact Cayley of a random skew matrix).
  const int64_t blocks = o.features / o.block_size;
  at::Tensor target_blocks = math::cayley_exact(
      math::skew_symmetric(at::randn({blocks, o.block_size * (o.block_size - 1) / 2}) * 0.05, o.block_size));
  auto target = [&](const at::Tensor& x) { return base->forward(math::rotate_rows(x, target_blocks)); };

  OFTLinear layer(base);
  OFTConfig config;
  config.oft_block_size = o.block_size;
  layer->add_adapter("default", config);
  torch::optim::Adam optimizer(layer->rotation("default")->parameters(), torch::optim::AdamOptions(o.lr));

  std::printf("OFT demo: Linear(%lld -> %lld), block size %lld, %lld trainable parameters\n",
              static_cast<long long>(o.features), static_cast<long long>(o.features),
              static_cast<long long>(o.block_size), static_cast<long long>(layer->rotation("default")->weight.numel()));
  const auto start = std::chrono::steady_clock::now();
  double loss_value = 0;
  for (int64_t step = 1; step <= o.steps; ++step) {
    at::Tensor x = at::randn({64, o.features});
    at::Tensor y;
    {
      torch::NoGradGuard no_grad;
      y = target(x);
    }
    optimizer.zero_grad();
    at::Tensor loss = at::mse_loss(layer->forward(x), y);
    loss.backward();
    optimizer.step();
    loss_value = loss.item<double>();
    if (step == 1 || step % 20 == 0 || step == o.steps) std::printf("step %4lld  loss %.6f\n", static_cast<long long>(step), loss_value);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("trained %lld steps in %.2f s (%.1f steps/s)\n", static_cast<long long>(o.steps), seconds, o.steps / seconds);

  torch::NoGradGuard no_grad;
  layer->eval();
  at::Tensor probe = at::randn({16, o.features});
  at::Tensor unmerged = layer->forward(probe);
  layer->merge(/*safe_merge=*/true);
  const double merge_diff = (layer->forward(probe) - unmerged).abs().max().item<double>();
  std::printf("merged: max |merged - unmerged| = %.2e\n", merge_diff);
  return merge_diff < 1e-4 ? 0 : 1;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Train an OFT adapter on one layer for a few steps, then merge it");
  cmd->add_option("--features", options->features, "layer width")->check(CLI::PositiveNumber);
  cmd->add_option("--block-size", options->block_size, "OFT block size (divides --features)")->check(CLI::Range(2, 1 << 16));
  cmd->add_option("--steps", options->steps, "training steps")->check(CLI::PositiveNumber);
  cmd->add_option("--lr", options->lr, "Adam learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", options->seed, "random seed");
  cmd->callback([options] {
    const int rc = run_demo(*options);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace oft::app
