#pragma once
// The two kinds of `oft train` run. Each loads the model, injects OFT, trains with the shared loop
// (trainer.h), saves the adapter in PEFT's format to <output_dir>/adapter and returns its metrics.
// With several ranks in `group`, every rank trains and evaluates its share; only rank 0 writes.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "../compute_options.h"
#include "../host.h"
#include "distributed_group.h"
#include "train_config.h"
#include "trainer.h"

namespace oft {
class OFTModel;
}  // namespace oft

namespace oft::app {

// The model loads onto compute.device in compute.dtype; the adapters are fp32 whatever that dtype is.
nlohmann::json train_sequence_classifier(Host& host, const TrainConfig& config, const ComputeSettings& compute,
                                         DataParallelGroup& group);
nlohmann::json train_causal_lm(Host& host, const TrainConfig& config, const ComputeSettings& compute,
                               DataParallelGroup& group);

// The adapter's tensors and the rest of the trainable ones (e.g. a modules_to_save head), by name.
struct TrainableSplit {
  std::vector<std::pair<std::string, at::Tensor>> all;
  std::vector<at::Tensor> adapter;
  std::vector<at::Tensor> other;
};
TrainableSplit trainable_parameters(torch::nn::Module& model);

// The training loop's options from the config (checkpoints in <output_dir>/checkpoint).
TrainerOptions trainer_options(const TrainConfig& config, DataParallelGroup& group);

// Saves the adapter in PEFT's format to `dir` through a temporary folder swapped in whole: a kill leaves
// the previous adapter or the new one, never weights without their config or a mix of two runs.
void save_adapter(const OFTModel& peft, const std::filesystem::path& dir);

}  // namespace oft::app
