// `oft demo`: the main job on the built-in default. Fine-tunes OFT adapters on all-MiniLM-L6-v2 for
// the sentence-classification task shipped in data/, and shows:
//   1. the baseline: the frozen encoder's mean-pooled embeddings with a trained linear head,
//   2. OFT: adapters on the encoder, head starting from the baseline's, trained together,
//   3. the adapter saved in PEFT's format reloads to the same logits,
//   4. merging it into the weights gives the same logits, and the merged checkpoint is written.
#include <chrono>
#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>

#include "bundled_data.h"
#include "commands.h"
#include "compute_options.h"
#include "host.h"
#include "oft/errors.h"
#include "oft/io/safetensors.h"
#include "oft/log.h"
#include "oft/tuner/oft_model.h"
#include "train/classification_eval.h"
#include "train/sequence_classifier.h"
#include "train/text_classification_data.h"
#include "train/trainer.h"
#include "train/training_runs.h"

namespace oft::app {
namespace {

namespace fs = std::filesystem;

struct DemoOptions {
  std::string model;
  std::string data = bundled_data_folder("review_sentiment").string();  // found from any current folder
  std::string out = "runs/demo";                                        // an output: under the current folder
  int64_t steps = 240;                                                  // 12 epochs of the 320 training sentences
  int64_t batch_size = 16;
  int64_t block_size = 32;
  double lr = 5e-3;
  std::vector<std::string> targets{"query", "value"};  // PEFT's default for BERT
  uint64_t seed = 0;
  ComputeFlags compute;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Logistic regression on fixed embeddings (full batch, AdamW) with an L2 penalty on the weight.
void fit_head(torch::nn::LinearImpl& head, const at::Tensor& x, const at::Tensor& y, double l2) {
  torch::optim::AdamW optimizer(head.parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0));
  for (int epoch = 0; epoch < 300; ++epoch) {
    optimizer.zero_grad();
    (at::cross_entropy_loss(head.forward(x), y) + l2 * head.weight.pow(2).sum()).backward();
    optimizer.step();
  }
}

// The frozen-encoder baseline: the head alone on fixed embeddings, its L2 strength chosen by 5-fold
// cross-validation on the training set (as data/review_sentiment/frozen_baseline.py does in Python).
double train_head(SequenceClassifier& model, const at::Tensor& x, const at::Tensor& y, uint64_t seed) {
  const std::vector<double> strengths = {0.0, 1e-4, 1e-3, 1e-2, 1e-1};
  const int64_t n = x.size(0), folds = 5;
  at::manual_seed(static_cast<int64_t>(seed));
  const at::Tensor order = at::randperm(n, at::kLong);
  double best_l2 = 0, best_accuracy = -1;
  for (double l2 : strengths) {
    double correct = 0;
    for (int64_t f = 0; f < folds; ++f) {
      const at::Tensor in_fold = (at::arange(n, at::kLong) % folds).eq(f);
      const at::Tensor held = order.masked_select(in_fold), kept = order.masked_select(in_fold.logical_not());
      torch::nn::Linear head(x.size(1), model.classifier.as<torch::nn::LinearImpl>()->weight.size(0));
      fit_head(*head, x.index_select(0, kept), y.index_select(0, kept), l2);
      torch::NoGradGuard no_grad;
      correct += head->forward(x.index_select(0, held)).argmax(-1).eq(y.index_select(0, held)).sum().item<double>();
    }
    if (correct > best_accuracy) best_accuracy = correct, best_l2 = l2;
  }
  fit_head(*model.classifier.as<torch::nn::LinearImpl>(), x, y, best_l2);
  return best_l2;
}

std::vector<std::string> read_labels(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw FormatError("cannot read " + file.string() + " (the task's label names, a JSON list)");
  try {
    return nlohmann::json::parse(in).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(file.string() + " must be a JSON list of label names: " + e.what());
  }
}

float max_abs_difference(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<float>(); }

// The dtype the encoder computes in: --dtype when given, else the checkpoint's own (the head is always fp32).
c10::ScalarType encoder_dtype(const SequenceClassifier& model) {
  for (const auto& p : model.encoder.module->parameters())
    if (at::isFloatingType(p.scalar_type())) return p.scalar_type();
  throw UsageError("demo: the encoder has no floating-point parameter; expected a float or half checkpoint");
}

int run_demo(Host& host, const DemoOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  at::manual_seed(static_cast<int64_t>(o.seed));
  const fs::path data_dir = o.data, out = o.out;
  if (!fs::is_directory(data_dir))
    throw UsageError("demo: --data '" + o.data +
                     "' is not a folder; expected the task folder with train.jsonl, test.jsonl and labels.json");
  const auto labels = read_labels(data_dir / "labels.json");
  const ComputeSettings compute = resolve_compute(host, o.compute);
  models::LoadOptions load;
  load.formats = host.formats();
  load.device = compute.device;
  load.dtype = compute.dtype;
  auto load_classifier = [&] {
    return std::make_shared<SequenceClassifier>(models::load_pretrained(o.model, load),
                                                static_cast<int64_t>(labels.size()));
  };
  auto model = load_classifier();
  model->eval();
  const auto train_set = load_text_classification(data_dir / "train.jsonl", labels, o.model, 128);
  const auto test_set = load_text_classification(data_dir / "test.jsonl", labels, o.model, 128);
  std::printf("all-MiniLM-L6-v2 from %s\ntask %s: %lld train / %lld held-out sentences, %zu labels\n", o.model.c_str(),
              data_dir.filename().c_str(), static_cast<long long>(train_set.size()),
              static_cast<long long>(test_set.size()), labels.size());

  // 1. Baseline: frozen encoder + trained head.
  const double l2 = train_head(*model, embeddings_of(*model, train_set), train_set.labels, o.seed);
  const double baseline = accuracy(logits_of(*model, test_set), test_set.labels);
  std::printf("baseline (frozen encoder + linear head, L2 %g chosen by 5-fold CV): held-out accuracy %.1f%%\n", l2,
              100 * baseline);

  // 2. OFT on the target modules, the head continuing from the baseline's.
  OFTConfig config;
  config.target_modules = ModuleSelector::from_names(o.targets);
  config.oft_block_size = o.block_size;
  config.modules_to_save = std::vector<std::string>{"classifier"};
  OFTModel peft(
      model, config,
      {.info = model->info(), .registry = host.dispatchers(), .eval_weight_cache = compute.eval_weight_cache});
  std::printf("OFT: %s\n", peft.count_parameters().summary().c_str());
  model->train();
  const TrainableSplit params = trainable_parameters(*model);
  TrainerOptions options;
  options.steps = o.steps;
  options.batch_size = o.batch_size;
  options.seed = o.seed;
  options.label = "OFT";
  train(options, train_set.size(), {{params.adapter, o.lr}, {params.other, o.lr / 4}}, 0.0, params.all,
        [&](const at::Tensor& indices) {
          const auto batch = train_set.select(indices);
          return at::cross_entropy_loss(model->forward(batch.input_ids, batch.attention_mask), batch.labels);
        });
  model->eval();
  const at::Tensor oft_logits = logits_of(*model, test_set);
  const double tuned = accuracy(oft_logits, test_set.labels);
  std::printf("OFT fine-tuned: held-out accuracy %.1f%% (baseline %.1f%%)\n", 100 * tuned, 100 * baseline);

  // 3. The adapter in PEFT's format, reloaded onto a fresh model.
  peft.save_pretrained(out / "adapter");
  auto reloaded = load_classifier();
  OFTModel reloaded_peft = OFTModel::from_pretrained(
      reloaded, out / "adapter",
      {.info = reloaded->info(), .registry = host.dispatchers(), .eval_weight_cache = compute.eval_weight_cache});
  reloaded->eval();
  const float reload_diff = max_abs_difference(logits_of(*reloaded, test_set), oft_logits);
  std::printf("adapter saved to %s; reloaded logits differ by at most %.2e\n", (out / "adapter").c_str(), reload_diff);

  // 4. Merged into the weights: same logits, written as a full checkpoint.
  peft.merge_and_unload();
  const float merge_diff = max_abs_difference(logits_of(*model, test_set), oft_logits);
  models::save_pretrained(model->encoder, out / "merged", host.formats().get());
  auto head = model->classifier.as<torch::nn::LinearImpl>();
  safetensors::save(out / "merged" / "classifier.safetensors",
                    {{"weight", head->weight.detach()}, {"bias", head->bias.detach()}});
  std::printf("merged model written to %s; merged logits differ by at most %.2e\n", (out / "merged").c_str(),
              merge_diff);

  // Merged weights are rounded to the model's dtype once; unmerged, the rotation runs in fp32: bf16/fp16 keep
  // 8/11 significant bits, so their logits agree to about 1e-2 instead of fp32's 1e-3.
  const bool half = at::isReducedFloatingType(encoder_dtype(*model));
  const float tolerance = (half ? 5e-2f : 1e-3f) * std::max(1.0f, oft_logits.abs().max().item<float>());
  const bool ok = reload_diff <= tolerance && merge_diff <= tolerance;
  std::printf("%s in %.0f s\n", ok ? "done" : "FAILED: reloaded or merged outputs differ", seconds_since(start));
  return ok ? 0 : 1;
}

}  // namespace

void add_demo_command(CLI::App& app, Host& host) {
  auto o = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo", "The main job: OFT fine-tuning of all-MiniLM-L6-v2 on the bundled classification task");
  cmd->add_option("--model", o->model, "all-MiniLM-L6-v2 folder (scripts/fetch_minilm.sh prints it)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--data", o->data,
                  "task folder with train.jsonl, test.jsonl, labels.json (default: the task oft ships)")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  cmd->add_option("--out", o->out,
                  "where the adapter and the merged model are written (relative: to the current folder)")
      ->capture_default_str();
  cmd->add_option("--steps", o->steps, "OFT training steps")->capture_default_str();
  cmd->add_option("--block-size", o->block_size, "oft_block_size")->capture_default_str();
  std::string default_targets;  // shown as it is typed: comma-separated
  for (const auto& target : o->targets) default_targets += (default_targets.empty() ? "" : ",") + target;
  cmd->add_option("--targets", o->targets, "target_modules (module names or suffixes)")
      ->delimiter(',')
      ->default_str(default_targets);
  cmd->add_option("--lr", o->lr, "learning rate of the OFT adapters")->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  add_compute_options(*cmd, o->compute, /*eval_flag=*/false);
  cmd->callback([o, &host] {
    if (const int rc = run_demo(host, *o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace oft::app
