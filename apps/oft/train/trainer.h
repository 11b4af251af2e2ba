#pragma once
// The training loop shared by `oft train` and the main job: seeded shuffled batches, AdamW steps,
// a progress bar, and a resumable checkpoint (trainable tensors, optimizer state, step) written
// atomically every save_every steps and at the end.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

namespace oft::app {

struct TrainerOptions {
  int64_t steps = 100;
  int64_t batch_size = 16;
  int64_t save_every = 0;  // 0: checkpoint only at the end
  uint64_t seed = 0;
  std::filesystem::path checkpoint_dir;  // empty: no checkpoints
  bool resume = true;                    // continue from checkpoint_dir when it holds a checkpoint
  std::string label = "train";
};

struct ParamGroup {
  std::vector<at::Tensor> params;
  double lr = 1e-3;
};

struct TrainResult {
  int64_t first_step = 0;  // 0, or the step a resumed run started from
  double final_loss = 0;   // mean loss over the last steps run
};

// `loss(indices)`: the mean loss on those examples (int64 indices into the training set).
using BatchLoss = std::function<at::Tensor(const at::Tensor& indices)>;

// Trains the parameters of `groups` (the only tensors that change; `trainable` names them for the
// checkpoint, e.g. model->named_parameters() filtered to requires_grad).
TrainResult train(const TrainerOptions& options, int64_t num_examples, const std::vector<ParamGroup>& groups,
                  double weight_decay, const std::vector<std::pair<std::string, at::Tensor>>& trainable,
                  const BatchLoss& loss);

// The example indices of step `step` (0-based): epoch-wise permutations seeded by seed + epoch.
at::Tensor batch_indices(int64_t step, int64_t batch_size, int64_t num_examples, uint64_t seed);

}  // namespace oft::app
