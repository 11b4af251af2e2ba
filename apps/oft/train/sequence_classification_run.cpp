// `oft train` with task sequence_classification: OFT on the encoder, the "classifier" head trained
// as a modules_to_save module (as PEFT does for SEQ_CLS), accuracy on the eval split.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "classification_eval.h"
#include "oft/io/safetensors.h"
#include "oft/log.h"
#include "oft/tuner/oft_model.h"
#include "sequence_classifier.h"
#include "text_classification_data.h"
#include "trainer.h"
#include "training_runs.h"

namespace oft::app {
nlohmann::json train_sequence_classifier(Host& host, const TrainConfig& c, const ComputeSettings& compute,
                                         DataParallelGroup& group) {
  at::manual_seed(static_cast<int64_t>(c.seed));
  models::LoadOptions load;
  load.formats = host.formats();
  load.device = compute.device;
  load.dtype = compute.dtype;
  const auto num_labels = static_cast<int64_t>(c.labels.size());
  auto model = std::make_shared<SequenceClassifier>(models::load_pretrained(c.model, load), num_labels);
  const auto train_set = load_text_classification(c.train_data, c.labels, c.model, c.max_length);
  OFTConfig oft = c.oft;
  auto saved = oft.modules_to_save.value_or(std::vector<std::string>{});
  if (std::find(saved.begin(), saved.end(), "classifier") == saved.end()) saved.push_back("classifier");
  oft.modules_to_save = saved;
  // task_type stays unset: PEFT's SEQ_CLS wrapper expects a transformers model class, and this is a
  // custom one (encoder + mean pooling + head); the head is saved through modules_to_save instead.
  OFTModel peft(
      model, oft,
      {.info = model->info(), .registry = host.dispatchers(), .eval_weight_cache = compute.eval_weight_cache});
  logger()->info("{}", peft.count_parameters().summary());

  model->train();
  const TrainableSplit params = trainable_parameters(*model);
  const TrainResult result =
      train(trainer_options(c, group), train_set.size(), {{params.adapter, c.lr}, {params.other, c.head_lr}},
            c.weight_decay, params.all, [&](const at::Tensor& indices) {
              const auto batch = train_set.select(indices);
              return at::cross_entropy_loss(model->forward(batch.input_ids, batch.attention_mask), batch.labels);
            });
  model->eval();
  if (group.is_writer()) save_adapter(peft, c.output_dir / "adapter");

  nlohmann::json metrics = {
      {"task", "sequence_classification"},
      {"steps", c.steps},
      {"resumed_from", result.first_step},
      {"final_loss", result.final_loss},
      {"train_seconds", result.seconds},
      {"train_accuracy", accuracy(sharded_logits_of(*model, train_set, num_labels, group), train_set.labels)}};
  if (!c.eval_data.empty()) {
    const auto eval_set = load_text_classification(c.eval_data, c.labels, c.model, c.max_length);
    const at::Tensor logits = sharded_logits_of(*model, eval_set, num_labels, group);
    metrics["eval_accuracy"] = accuracy(logits, eval_set.labels);
    // For checking against other implementations (the PEFT interop test does).
    if (group.is_writer())
      safetensors::save(c.output_dir / "eval_logits.safetensors", {{"logits", logits.to(at::kFloat).contiguous()}});
  }
  logger()->info("{}", metrics.dump());
  return metrics;
}

}  // namespace oft::app
