#include "trainer.h"

#include <fstream>
#include <optional>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include "distributed_gradients.h"
#include "oft/errors.h"
#include "oft/io/safetensors.h"
#include "oft/log.h"
#include "progress.h"

namespace oft::app {
namespace {

namespace fs = std::filesystem;

const char* kTensors = "trainable.safetensors";
const char* kOptimizer = "optimizer.pt";
const char* kState = "trainer_state.json";

// Writes the checkpoint into a fresh folder, then swaps it in: a crash leaves the old one whole.
void save_checkpoint(const fs::path& dir, int64_t step, const TrainerOptions& options,
                     const std::vector<std::pair<std::string, at::Tensor>>& trainable,
                     torch::optim::Optimizer& optimizer) {
  const fs::path tmp = dir.string() + ".tmp", old = dir.string() + ".old";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  safetensors::TensorMap tensors;
  for (const auto& [name, t] : trainable) tensors[name] = t.detach();
  safetensors::save(tmp / kTensors, tensors);
  torch::save(optimizer, (tmp / kOptimizer).string());
  std::ofstream(tmp / kState) << nlohmann::json{
      {"step", step},
      {"steps", options.steps},
      {"seed", options.seed},
      {"batch_size",
       options.batch_size}}.dump(2);
  fs::remove_all(old);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(tmp, dir);
  fs::remove_all(old);
}

// Restores the trainable tensors and optimizer; returns the step to continue from.
int64_t load_checkpoint(const fs::path& dir, const TrainerOptions& options,
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
  torch::load(optimizer, (dir / kOptimizer).string());
  return state.at("step").get<int64_t>();
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
  const fs::path& dir = options.checkpoint_dir;
  if (!dir.empty() && options.resume && fs::exists(dir / kState)) {
    result.first_step = load_checkpoint(dir, options, trainable, optimizer);
    logger()->info("resuming from {} at step {}", dir.string(), result.first_step);
  }
  if (group) expect_same_start(*group, result.first_step, dir);
  std::optional<Progress> progress;
  if (writer) progress.emplace(options.label, result.first_step, options.steps);
  double recent = 0;
  int64_t recent_count = 0;
  for (int64_t step = result.first_step; step < options.steps; ++step) {
    const at::Tensor indices = batch_indices(step, options.batch_size, num_examples, options.seed);
    optimizer.zero_grad();
    buckets.begin_step();
    const at::Tensor value = backward_share(options, indices, loss);
    buckets.finish({value});  // the loss too, to report the global one
    optimizer.step();
    const double l = value.item<double>();
    if (step >= options.steps - 10) recent += l, ++recent_count;
    if (progress) progress->update(step + 1, l, indices.size(0));
    const bool last = step + 1 == options.steps;
    if (!dir.empty() && (last || (options.save_every > 0 && (step + 1) % options.save_every == 0))) {
      if (writer) save_checkpoint(dir, step + 1, options, trainable, optimizer);
      if (group) group->barrier();
    }
  }
  if (progress) progress->finish();
  result.final_loss = recent_count ? recent / static_cast<double>(recent_count) : 0;
  return result;
}

}  // namespace oft::app
