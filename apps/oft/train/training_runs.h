#pragma once
// The two kinds of `oft train` run. Each loads the model, injects OFT, trains with the shared loop
// (trainer.h), saves the adapter in PEFT's format to <output_dir>/adapter and returns its metrics.
// With several ranks in `group`, every rank trains and evaluates its share; only rank 0 writes.
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "../host.h"
#include "distributed_group.h"
#include "train_config.h"
#include "trainer.h"

namespace oft::app {

nlohmann::json train_sequence_classifier(Host& host, const TrainConfig& config, DataParallelGroup& group);
nlohmann::json train_causal_lm(Host& host, const TrainConfig& config, DataParallelGroup& group);

// The adapter's tensors and the rest of the trainable ones (e.g. a modules_to_save head), by name.
struct TrainableSplit {
  std::vector<std::pair<std::string, at::Tensor>> all;
  std::vector<at::Tensor> adapter;
  std::vector<at::Tensor> other;
};
TrainableSplit trainable_parameters(torch::nn::Module& model);

// The training loop's options from the config (checkpoints in <output_dir>/checkpoint).
TrainerOptions trainer_options(const TrainConfig& config, DataParallelGroup& group);

}  // namespace oft::app
