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
#include "oft/device/device.h"
#include "oft/errors.h"
#include "oft/io/atomic_file.h"
#include "oft/log.h"
#include "stale_temporaries.h"
#include "training_runs.h"

namespace oft::app {
namespace {

// Data-parallel ranks on CUDA each compute on one GPU of their host, the one their NCCL communicator
// binds: local rank r takes cuda:r, or cuda:0 when the launcher shows each process only its own GPU
// (CUDA_VISIBLE_DEVICES per rank). The N of "cuda:N" names one process's GPU, so several ranks ignore it.
c10::Device device_of_rank(const c10::Device& device, const WorkerPlace& place) {
  if (!device.is_cuda() || place.world_size == 1) return device;
  if (device.has_index())
    logger()->warn("device {} names one GPU, but each of the {} data-parallel ranks computes on its own: {}",
                   device.str(), place.world_size, "local rank r on cuda:r (cuda:0 where a process sees one GPU)");
  prepare_device(c10::Device(c10::kCUDA, 0));  // loads CUDA, so that the visible GPUs can be counted
  const auto visible = static_cast<int>(at::getNumGPUs());
  if (visible > 1 && !place.local_rank)
    throw UsageError("rank " + std::to_string(place.rank) + " sees " + std::to_string(visible) +
                     " GPUs but its launcher set no LOCAL_RANK, so it cannot tell which GPU is its own: set "
                     "LOCAL_RANK (0..GPUs per host - 1), or show each rank one GPU with CUDA_VISIBLE_DEVICES");
  const int local_rank = place.local_rank.value_or(0);
  if (visible > 1 && local_rank >= visible)
    throw UsageError("local rank " + std::to_string(local_rank) + " computes on cuda:" + std::to_string(local_rank) +
                     ", but this process sees " + std::to_string(visible) +
                     " GPUs: start at most one rank per GPU on each host, or show each rank one GPU with "
                     "CUDA_VISIBLE_DEVICES");
  const c10::Device own(c10::kCUDA, static_cast<c10::DeviceIndex>(visible == 1 ? 0 : local_rank));
  prepare_device(own);
  return own;
}

void run_train(Host& host, const std::string& config_file, const ComputeFlags& flags) {
  const TrainConfig config = TrainConfig::load(config_file);
  const WorkerPlace place = worker_place_from_environment();
  ComputeSettings compute = resolve_compute(host, flags, config.device, config.dtype);
  compute.device = device_of_rank(compute.device, place);
  DataParallelGroup group(place, resolve_distributed_options(host.distributed(), config.distributed), compute.device);
  if (group.is_writer()) remove_stale_temporaries(config.output_dir);  // what killed runs left
  const nlohmann::json metrics = config.task == TrainTask::SequenceClassification
                                     ? train_sequence_classifier(host, config, compute, group)
                                     : train_causal_lm(host, config, compute, group);
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
  auto compute = std::make_shared<ComputeFlags>();
  auto* cmd = app.add_subcommand("train", "Fine-tune OFT adapters from a JSON training config");
  cmd->add_option("--config", *config, "TRAIN.json (model, task, data, oft, optimizer, steps, output_dir)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--nproc-per-node", *nproc, "start and supervise this many data-parallel workers on this host")
      ->check(CLI::Range(1, 1024));
  add_compute_options(*cmd, *compute, /*eval_flag=*/false);  // they win over TRAIN.json's "device" and "dtype"
  cmd->callback(
      [config, nproc, compute, &host] { *nproc > 0 ? supervise(*nproc) : run_train(host, *config, *compute); });
}

}  // namespace oft::app
