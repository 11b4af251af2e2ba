// `oft train --config TRAIN.json`: fine-tunes OFT adapters (train/train_config.h describes the file),
// shows progress, checkpoints every save_every steps (resumable), and writes the adapter in PEFT's
// format to <output_dir>/adapter, with metrics in <output_dir>/metrics.json.
// Data parallel: `--nproc-per-node N` supervises N local workers (distributed_supervisor.h); a process
// started with torchrun's variables (distributed_env.h) is one worker of a run, and only rank 0 writes.
#include <cstdlib>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "../commands.h"
#include "../host.h"
#include "distributed_group.h"
#include "distributed_supervisor.h"
#include "oft/errors.h"
#include "oft/io/atomic_file.h"
#include "oft/log.h"
#include "training_runs.h"

namespace oft::app {
namespace {

void run_train(Host& host, const std::string& config_file) {
  const TrainConfig config = TrainConfig::load(config_file);
  DataParallelGroup group(worker_place_from_environment(), config.distributed);
  const nlohmann::json metrics = config.task == TrainTask::SequenceClassification
                                     ? train_sequence_classifier(host, config, group)
                                     : train_causal_lm(host, config, group);
  if (group.is_writer()) {
    write_atomically(config.output_dir / "metrics.json", [&](std::ostream& out) { out << metrics.dump(2) << "\n"; });
    logger()->info("adapter written to {}", (config.output_dir / "adapter").string());
  }
  group.barrier();  // the other ranks end once rank 0 has written
}

void supervise(int nproc) {
  if (std::getenv("WORLD_SIZE"))
    throw UsageError(
        "--nproc-per-node starts the workers itself; this process already has WORLD_SIZE set "
        "(started by a launcher such as torchrun): drop one of the two");
  supervise_local_workers(own_command_line_without("--nproc-per-node"), {.nproc = nproc});
}

}  // namespace

void add_train_command(CLI::App& app, Host& host) {
  auto config = std::make_shared<std::string>();
  auto nproc = std::make_shared<int>(0);
  auto* cmd = app.add_subcommand("train", "Fine-tune OFT adapters from a JSON training config");
  cmd->add_option("--config", *config, "TRAIN.json (model, task, data, oft, optimizer, steps, output_dir)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--nproc-per-node", *nproc, "start and supervise this many data-parallel workers on this host")
      ->check(CLI::Range(1, 1024));
  cmd->callback([config, nproc, &host] { *nproc > 0 ? supervise(*nproc) : run_train(host, *config); });
}

}  // namespace oft::app
