#include "training_runs.h"

#include "oft/io/atomic_file.h"
#include "oft/tuner/oft_model.h"

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

void save_adapter(const OFTModel& peft, const std::filesystem::path& dir) {
  write_folder_atomically(dir, [&](const std::filesystem::path& tmp) { peft.save_pretrained(tmp); });
}

}  // namespace oft::app
