#include "trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include "distributed_gradients.h"
#include "oft/errors.h"
#include "oft/io/atomic_file.h"
#include "oft/io/safetensors.h"
#include "oft/log.h"
#include "progress.h"

namespace oft::app {
namespace {

namespace fs = std::filesystem;

const char* kTensors = "trainable.safetensors";
const char* kOptimizer = "optimizer.pt";
const char* kRngState = "rng_state.safetensors";
const char* kState = "trainer_state.json";
constexpr size_t kRecentSteps = 10;  // final_loss is the mean loss of the last steps

// (step, loss) of the last kRecentSteps steps run, oldest first; kept in the checkpoint so that a resumed run
// reports the final_loss an uninterrupted one does.
using RecentLosses = std::vector<std::pair<int64_t, double>>;

// The default CPU generator's state. module_dropout draws on it (on every device), so a resumed run must
// continue its sequence where the checkpoint left it, not where the start-up's manual_seed puts it.
at::Tensor cpu_rng_state() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void restore_cpu_rng_state(const fs::path& file) {
  const auto tensors = safetensors::load(file).tensors;
  const auto it = tensors.find("cpu");
  if (it == tensors.end()) throw FormatError("checkpoint " + file.string() + " has no tensor 'cpu'");
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  try {
    generator.set_state(it->second);
  } catch (const c10::Error& e) {
    throw FormatError("checkpoint " + file.string() + ": tensor 'cpu' is not a CPU generator state (" +
                      e.what_without_backtrace() + ")");
  }
}

// Writes the checkpoint into a temporary folder swapped in whole (write_folder_atomically): at every moment
// `dir` is absent, the previous checkpoint or this one, complete; what a killed write leaves is hidden
// (".checkpoint.oft-tmp.<pid>.<n>") and removed by the next write.
void save_checkpoint(const fs::path& dir, int64_t step, const TrainerOptions& options,
                     const std::vector<std::pair<std::string, at::Tensor>>& trainable,
                     torch::optim::Optimizer& optimizer, const RecentLosses& recent) {
  write_folder_atomically(dir, [&](const fs::path& tmp) {
    safetensors::TensorMap tensors;
    for (const auto& [name, t] : trainable) tensors[name] = t.detach();
    safetensors::save(tmp / kTensors, tensors);
    safetensors::save(tmp / kRngState, {{"cpu", cpu_rng_state()}});
    torch::save(optimizer, (tmp / kOptimizer).string());
    nlohmann::json losses = nlohmann::json::array();
    for (const auto& [s, loss] : recent) losses.push_back({s, loss});
    const nlohmann::json state{{"step", step},
                               {"steps", options.steps},
                               {"seed", options.seed},
                               {"batch_size", options.batch_size},
                               {"recent_losses", losses}};
    write_atomically(tmp / kState, [&](std::ostream& out) { out << state.dump(2) << "\n"; });
  });
}

struct Resumed {
  int64_t step = 0;
  RecentLosses recent;
};

// Restores the trainable tensors, the optimizer and the random generator; returns the step to continue from.
// The saved optimizer state is read onto the CPU (rank 0 saved it from its own device) and each tensor of
// it goes where its parameter is: the GPU of this rank, or the CPU for a head kept there. oft train's
// optimizer is AdamW.
void move_state_to_parameters(torch::optim::Optimizer& optimizer) {
  for (const auto& group : optimizer.param_groups())
    for (const auto& p : group.params()) {
      const auto it = optimizer.state().find(p.unsafeGetTensorImpl());
      if (it == optimizer.state().end()) continue;
      auto* state = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get());
      if (state == nullptr) throw std::logic_error("oft train resumes AdamW's state only");
      state->exp_avg(state->exp_avg().to(p.device()));
      state->exp_avg_sq(state->exp_avg_sq().to(p.device()));
      if (state->max_exp_avg_sq().defined()) state->max_exp_avg_sq(state->max_exp_avg_sq().to(p.device()));
    }
}

Resumed load_checkpoint(const fs::path& dir, const TrainerOptions& options,
                        const std::vector<std::pair<std::string, at::Tensor>>& trainable,
                        torch::optim::Optimizer& optimizer) {
  std::ifstream in(dir / kState);
  const auto state = nlohmann::json::parse(in);
  if (state.at("seed").get<uint64_t>() != options.seed || state.at("batch_size").get<int64_t>() != options.batch_size)
    throw UsageError("checkpoint " + dir.string() +
                     " was made with another seed or batch_size; remove it or set \"resume\": false");
  const auto tensors = safetensors::load(dir / kTensors).tensors;
  at::NoGradGuard no_grad;
  for (const auto& [name, t] : trainable) {
    const auto it = tensors.find(name);
    if (it == tensors.end() || it->second.sizes() != t.sizes())
      throw FormatError("checkpoint " + (dir / kTensors).string() + " has no tensor '" + name + "' of shape " +
                        c10::str(t.sizes()) + " (was it made for another config?)");
    t.copy_(it->second);
  }
  torch::load(optimizer, (dir / kOptimizer).string(), at::Device(at::kCPU));
  move_state_to_parameters(optimizer);
  if (fs::exists(dir / kRngState))
    restore_cpu_rng_state(dir / kRngState);
  else
    logger()->warn(
        "checkpoint {} has no random generator state (an older oft wrote it): module_dropout will not "
        "draw what an uninterrupted run draws",
        dir.string());
  Resumed resumed{state.at("step").get<int64_t>(), {}};
  // A diverged loss (NaN) is stored as null.
  for (const auto& item : state.value("recent_losses", nlohmann::json::array()))
    resumed.recent.emplace_back(item.at(0).get<int64_t>(),
                                item.at(1).is_null() ? std::nan("") : item.at(1).get<double>());
  return resumed;
}

}  // namespace

at::Tensor batch_indices(int64_t step, int64_t batch_size, int64_t num_examples, uint64_t seed) {
  const int64_t per_epoch = (num_examples + batch_size - 1) / batch_size;
  const int64_t epoch = step / per_epoch, position = step % per_epoch;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed + static_cast<uint64_t>(epoch));
  const at::Tensor order = at::randperm(num_examples, generator, at::kLong);
  const int64_t begin = position * batch_size;
  return order.slice(0, begin, std::min(begin + batch_size, num_examples));
}

namespace {

// One step's loss on this rank, backpropagated: the whole batch alone, or this rank's share of it
// weighted by its part of the batch's loss terms. Returns the loss (a scalar tensor).
at::Tensor backward_share(const TrainerOptions& options, const at::Tensor& indices, const BatchLoss& loss) {
  DataParallelGroup* group = options.group;
  if (!group || group->world_size() == 1) {
    at::Tensor value = loss(indices);
    value.backward();
    return value.detach();
  }
  const ShareRange range = contiguous_share(indices.size(0), group->rank(), group->world_size());
  if (range.begin == range.end) return at::zeros({}, at::kDouble);
  const at::Tensor share = indices.slice(0, range.begin, range.end);
  const auto terms = [&](const at::Tensor& i) {
    return options.loss_terms ? options.loss_terms(i) : static_cast<double>(i.size(0));
  };
  const double total = terms(indices);
  const at::Tensor value = loss(share) * (total > 0 ? terms(share) / total : 0.0);
  value.backward();
  return value.detach().to(at::kDouble);
}

// Every rank must resume from the same step: with several hosts, output_dir must be storage they all
// see. The step and its square summed over the ranks tell all of them alike whether they agree.
void expect_same_start(DataParallelGroup& group, int64_t first_step, const fs::path& dir) {
  const auto step = static_cast<double>(first_step);
  const at::Tensor sums = at::tensor({step, step * step}, at::kDouble);
  group.all_reduce_sum({sums});
  const double n = group.world_size(), sum = sums[0].item<double>(), squares = sums[1].item<double>();
  if (squares * n != sum * sum)
    throw DistributedError("the ranks would start from different steps (this one from " + std::to_string(first_step) +
                           "): every rank must see the same checkpoint " + dir.string() +
                           " (output_dir on storage shared by all hosts)");
}

}  // namespace

TrainResult train(const TrainerOptions& options, int64_t num_examples, const std::vector<ParamGroup>& groups,
                  double weight_decay, const std::vector<std::pair<std::string, at::Tensor>>& trainable,
                  const BatchLoss& loss) {
  if (num_examples <= 0) throw UsageError("the training set is empty");
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  std::vector<at::Tensor> all_params;
  for (const auto& g : groups)
    if (!g.params.empty()) {
      param_groups.emplace_back(g.params, std::make_unique<torch::optim::AdamWOptions>(
                                              torch::optim::AdamWOptions(g.lr).weight_decay(weight_decay)));
      all_params.insert(all_params.end(), g.params.begin(), g.params.end());
    }
  torch::optim::AdamW optimizer(std::move(param_groups));
  DataParallelGroup* group = options.group;
  const bool writer = !group || group->is_writer();
  GradientBuckets buckets(all_params, group);

  TrainResult result;
  RecentLosses recent;
  const fs::path& dir = options.checkpoint_dir;
  if (!dir.empty() && options.resume && fs::exists(dir / kState)) {
    Resumed resumed = load_checkpoint(dir, options, trainable, optimizer);
    result.first_step = resumed.step;
    recent = std::move(resumed.recent);
    logger()->info("resuming from {} at step {}", dir.string(), result.first_step);
  }
  if (group) expect_same_start(*group, result.first_step, dir);
  std::optional<Progress> progress;
  if (writer) progress.emplace(options.label, result.first_step, options.steps);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = result.first_step; step < options.steps; ++step) {
    const at::Tensor indices = batch_indices(step, options.batch_size, num_examples, options.seed);
    optimizer.zero_grad();
    buckets.begin_step();
    const at::Tensor value = backward_share(options, indices, loss);
    buckets.finish({value});  // the loss too, to report the global one
    optimizer.step();
    const double l = value.item<double>();
    recent.emplace_back(step, l);
    if (recent.size() > kRecentSteps) recent.erase(recent.begin());
    if (progress) progress->update(step + 1, l, indices.size(0));
    const bool last = step + 1 == options.steps;
    if (!dir.empty() && (last || (options.save_every > 0 && (step + 1) % options.save_every == 0))) {
      if (writer) save_checkpoint(dir, step + 1, options, trainable, optimizer, recent);
      if (group) group->barrier();
    }
  }
  if (progress) progress->finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double sum = 0;
  for (const auto& item : recent) sum += item.second;
  result.final_loss = recent.empty() ? 0 : sum / static_cast<double>(recent.size());
  return result;
}

}  // namespace oft::app
