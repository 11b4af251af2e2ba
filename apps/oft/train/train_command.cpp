// `oft train --config TRAIN.json`: fine-tunes OFT adapters (train/train_config.h describes the file),
// shows progress, checkpoints every save_every steps (resumable), and writes the adapter in PEFT's
// format to <output_dir>/adapter, with metrics in <output_dir>/metrics.json.
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "../commands.h"
#include "../host.h"
#include "oft/errors.h"
#include "oft/io/atomic_file.h"
#include "oft/log.h"
#include "training_runs.h"

namespace oft::app {
namespace {

void run_train(Host& host, const std::string& config_file) {
  const TrainConfig config = TrainConfig::load(config_file);
  const nlohmann::json metrics = config.task == TrainTask::SequenceClassification
                                     ? train_sequence_classifier(host, config)
                                     : train_causal_lm(host, config);
  write_atomically(config.output_dir / "metrics.json", [&](std::ostream& out) { out << metrics.dump(2) << "\n"; });
  logger()->info("adapter written to {}", (config.output_dir / "adapter").string());
}

}  // namespace

void add_train_command(CLI::App& app, Host& host) {
  auto config = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("train", "Fine-tune OFT adapters from a JSON training config");
  cmd->add_option("--config", *config, "TRAIN.json (model, task, data, oft, optimizer, steps, output_dir)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->callback([config, &host] { run_train(host, *config); });
}

}  // namespace oft::app
