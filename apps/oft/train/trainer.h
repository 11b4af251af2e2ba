#pragma once
// The training loop shared by `oft train` and the main job: seeded shuffled batches, AdamW steps,
// a progress bar, and a resumable checkpoint (trainable tensors, optimizer state, the CPU random generator's
// state, step and the last losses) written atomically every save_every steps and at the end: a run killed at
// any moment and started again ends as an uninterrupted one (tests/reliability/test_train_crash_resume).
// Data parallel (options.group with several ranks): batch_size stays the global batch; each rank
// takes its contiguous share of it, weights its mean loss by its share of the batch's loss terms, and
// the gradients are summed over the ranks, so every rank takes the one-process step. Only rank 0
// writes checkpoints (the others wait at a barrier); any world size resumes from them.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

namespace oft::app {

class DataParallelGroup;

// The number of terms a mean loss averages over for these example indices (for token-mean losses,
// the target tokens); unset: the number of examples.
using LossTerms = std::function<double(const at::Tensor& indices)>;

struct TrainerOptions {
  int64_t steps = 100;
  int64_t batch_size = 16;
  int64_t save_every = 0;  // 0: checkpoint only at the end
  uint64_t seed = 0;
  std::filesystem::path checkpoint_dir;  // empty: no checkpoints
  bool resume = true;                    // continue from checkpoint_dir when it holds a checkpoint
  std::string label = "train";
  DataParallelGroup* group = nullptr;  // null: this process trains alone
  LossTerms loss_terms;
};

struct ParamGroup {
  std::vector<at::Tensor> params;
  double lr = 1e-3;
};

struct TrainResult {
  int64_t first_step = 0;  // 0, or the step a resumed run started from
  double final_loss = 0;   // mean loss over the last steps run
  double seconds = 0;      // wall time of the steps run by this process (checkpoints included)
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
