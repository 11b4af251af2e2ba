#include "training_runs.h"

namespace oft::app {

TrainableSplit trainable_parameters(torch::nn::Module& model) {
  TrainableSplit split;
  for (const auto& p : model.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    split.all.emplace_back(p.key(), p.value());
    (p.key().find(".oft_R.") != std::string::npos ? split.adapter : split.other).push_back(p.value());
  }
  return split;
}

TrainerOptions trainer_options(const TrainConfig& config, DataParallelGroup& group) {
  TrainerOptions options;
  options.steps = config.steps;
  options.batch_size = config.batch_size;
  options.save_every = config.save_every;
  options.seed = config.seed;
  options.checkpoint_dir = config.output_dir / "checkpoint";
  options.resume = config.resume;
  options.group = &group;
  return options;
}

}  // namespace oft::app
