// `oft train` with task causal_lm: next-token loss on the data's target tokens (causal_lm_rows.h: token
// ids, text, or prompt/completion with loss on the completion); loss and perplexity on the eval split.
#include <cmath>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "causal_lm_data.h"
#include "oft/errors.h"
#include "oft/hf/causal_lm_loss.h"
#include "oft/hf/pretrained.h"
#include "oft/log.h"
#include "oft/tuner/oft_model.h"
#include "trainer.h"
#include "training_runs.h"

namespace oft::app {
namespace {

// Next-token cross-entropy over the targets (labels not -100), as transformers' causal LM loss: their
// mean over the batch, or their sum.
// The batch goes to the model's device; the loss is computed there, in fp32.
at::Tensor lm_loss(const models::Pretrained& model, const CausalLmData& data, const at::Tensor& rows,
                   c10::Device device, int64_t reduction = at::Reduction::Mean) {
  const at::Tensor logits = model.forward(data.input_ids.index_select(0, rows).to(device),
                                          data.attention_mask.index_select(0, rows).to(device));
  return models::causal_lm_loss(logits, data.labels.index_select(0, rows).to(device), reduction);
}

// The number of targets the mean loss averages over.
double target_count(const CausalLmData& data, const at::Tensor& rows) {
  return data.labels.index_select(0, rows).slice(1, 1).ne(-100).sum().item<double>();
}

// The eval loss per target token: each rank sums over its contiguous share of the rows.
double sharded_eval_loss(const models::Pretrained& model, const CausalLmData& eval, c10::Device device,
                         DataParallelGroup& group) {
  torch::NoGradGuard no_grad;
  const ShareRange range = contiguous_share(eval.input_ids.size(0), group.rank(), group.world_size());
  at::Tensor totals = at::zeros({2}, at::kDouble);  // loss sum, target count
  if (range.end > range.begin) {
    const at::Tensor rows = at::arange(range.begin, range.end, at::kLong);
    totals[0] = lm_loss(model, eval, rows, device, at::Reduction::Sum).to(at::kCPU, at::kDouble);
    totals[1] = target_count(eval, rows);
  }
  group.all_reduce_sum({totals});
  return totals[0].item<double>() / totals[1].item<double>();
}

}  // namespace

nlohmann::json train_causal_lm(Host& host, const TrainConfig& c, const ComputeSettings& compute,
                               DataParallelGroup& group) {
  at::manual_seed(static_cast<int64_t>(c.seed));
  models::LoadOptions load;
  load.formats = host.formats();
  load.device = compute.device;
  load.dtype = compute.dtype;
  models::Pretrained model = models::load_pretrained(c.model, load);
  if (model.output_name != "logits")
    throw UsageError("task causal_lm needs a causal LM; " + model.info.model_type + " is not one");
  const CausalLmDataOptions data_options{.model_dir = c.model, .max_length = c.max_length, .packing = c.packing};
  const CausalLmData data = load_causal_lm_data(c.train_data, data_options);
  OFTConfig oft = c.oft;
  if (!oft.task_type) oft.task_type = "CAUSAL_LM";
  OFTModel peft(model.module, oft,
                {.info = model.info, .registry = host.dispatchers(), .eval_weight_cache = compute.eval_weight_cache});
  logger()->info("{}", peft.count_parameters().summary());

  model.module->train();
  const TrainableSplit params = trainable_parameters(*model.module);
  TrainerOptions options = trainer_options(c, group);
  options.loss_terms = [&](const at::Tensor& indices) { return target_count(data, indices); };
  const TrainResult result =
      train(options, data.input_ids.size(0), {{params.adapter, c.lr}, {params.other, c.head_lr}}, c.weight_decay,
            params.all, [&](const at::Tensor& indices) { return lm_loss(model, data, indices, compute.device); });
  model.module->eval();
  if (group.is_writer()) save_adapter(peft, c.output_dir / "adapter");
  nlohmann::json metrics = {{"task", "causal_lm"},
                            {"steps", c.steps},
                            {"resumed_from", result.first_step},
                            {"final_loss", result.final_loss},
                            {"train_seconds", result.seconds}};
  if (!c.eval_data.empty()) {
    const double loss = sharded_eval_loss(model, load_causal_lm_data(c.eval_data, data_options), compute.device, group);
    metrics["eval_loss"] = loss;
    metrics["eval_perplexity"] = std::exp(loss);
  }
  logger()->info("{}", metrics.dump());
  return metrics;
}

}  // namespace oft::app
