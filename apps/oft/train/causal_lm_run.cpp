// `oft train` with task causal_lm: next-token loss on pre-tokenized sequences (JSON lines
// {"input_ids": [...]}); loss and perplexity on the eval split.
#include <cmath>
#include <fstream>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/errors.h"
#include "oft/hf/pretrained.h"
#include "oft/log.h"
#include "oft/tuner/oft_model.h"
#include "trainer.h"
#include "training_runs.h"

namespace oft::app {
namespace {

struct TokenData {
  at::Tensor input_ids, attention_mask;  // (N, T), right-padded with 0 / mask 0
};

TokenData load_tokens(const std::filesystem::path& file, int64_t max_length) {
  std::ifstream in(file);
  if (!in) throw FormatError("cannot read " + file.string());
  std::vector<std::vector<int64_t>> rows;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      auto ids = nlohmann::json::parse(line).at("input_ids").get<std::vector<int64_t>>();
      if (ids.size() < 2) throw FormatError("needs at least two tokens");
      if (static_cast<int64_t>(ids.size()) > max_length) ids.resize(static_cast<size_t>(max_length));
      rows.push_back(std::move(ids));
    } catch (const std::exception& e) {
      throw FormatError(file.string() + ":" + std::to_string(n) + ": expected {\"input_ids\": [int, ...]} (" +
                        e.what() + ")");
    }
  }
  if (rows.empty()) throw FormatError(file.string() + " holds no sequences");
  size_t longest = 0;
  for (const auto& r : rows) longest = std::max(longest, r.size());
  TokenData d{at::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(longest)}, at::kLong),
              at::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(longest)}, at::kLong)};
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].size(); ++j) {
      d.input_ids[i][j] = rows[i][j];
      d.attention_mask[i][j] = 1;
    }
  return d;
}

// Mean next-token cross-entropy over real (unmasked) targets.
at::Tensor lm_loss(const models::Pretrained& model, const at::Tensor& ids, const at::Tensor& mask) {
  const at::Tensor logits = model.forward(ids, mask);
  const int64_t vocab = logits.size(-1);
  const at::Tensor predicted = logits.slice(1, 0, -1).reshape({-1, vocab});
  at::Tensor targets = ids.slice(1, 1).masked_fill(mask.slice(1, 1).eq(0), -100).reshape({-1});
  return at::cross_entropy_loss(predicted.to(at::kFloat), targets, {}, at::Reduction::Mean, -100);
}

}  // namespace

nlohmann::json train_causal_lm(Host& host, const TrainConfig& c) {
  at::manual_seed(static_cast<int64_t>(c.seed));
  models::LoadOptions load;
  load.formats = host.formats();
  models::Pretrained model = models::load_pretrained(c.model, load);
  if (model.output_name != "logits")
    throw UsageError("task causal_lm needs a causal LM; " + model.info.model_type + " is not one");
  const TokenData data = load_tokens(c.train_data, c.max_length);
  OFTConfig oft = c.oft;
  if (!oft.task_type) oft.task_type = "CAUSAL_LM";
  OFTModel peft(model.module, oft, {.info = model.info, .registry = host.dispatchers()});
  logger()->info("{}", peft.count_parameters().summary());

  model.module->train();
  const TrainableSplit params = trainable_parameters(*model.module);
  const TrainResult result = train(
      trainer_options(c), data.input_ids.size(0), {{params.adapter, c.lr}, {params.other, c.head_lr}}, c.weight_decay,
      params.all, [&](const at::Tensor& indices) {
        return lm_loss(model, data.input_ids.index_select(0, indices), data.attention_mask.index_select(0, indices));
      });
  model.module->eval();
  peft.save_pretrained(c.output_dir / "adapter");
  nlohmann::json metrics = {{"task", "causal_lm"},
                            {"steps", c.steps},
                            {"resumed_from", result.first_step},
                            {"final_loss", result.final_loss}};
  if (!c.eval_data.empty()) {
    torch::NoGradGuard no_grad;
    const TokenData eval = load_tokens(c.eval_data, c.max_length);
    const double loss = lm_loss(model, eval.input_ids, eval.attention_mask).item<double>();
    metrics["eval_loss"] = loss;
    metrics["eval_perplexity"] = std::exp(loss);
  }
  logger()->info("{}", metrics.dump());
  return metrics;
}

}  // namespace oft::app
