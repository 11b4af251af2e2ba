#pragma once
// TRAIN.json, the input of `oft train`:
// {
//   "model": "path/to/hf-model-folder",
//   "task": "sequence_classification" | "causal_lm",
//   "data": {"train": "train.jsonl", "eval": "test.jsonl", "labels": ["a", "b"], "max_length": 64,
//            "packing": false},
//   "oft": { PEFT OFTConfig keys (adapter_config.json) },
//   "optimizer": {"lr": 5e-3, "head_lr": 1e-3, "weight_decay": 0.0},
//   "batch_size": 16, "steps": 300, "seed": 0,
//   "output_dir": "runs/minilm", "save_every": 100, "resume": true,
//   "device": "cuda:0", "dtype": "bf16",
//   "distributed": {"timeout_s": 300, "backend": "auto", "bucket_mb": 25}
// }
// Data: sequence_classification reads JSON lines {"text": ..., "label": <name in labels>} and
// tokenizes with the model folder's WordPiece vocab.txt; causal_lm reads {"input_ids": [...]}, {"text": ...}
// or {"prompt": ..., "completion": ...} (causal_lm_rows.h), packed into max_length blocks with "packing": true.
// Relative paths are taken from the config file's folder.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "distributed_settings.h"
#include "oft/adapter/config.h"

namespace oft::app {

enum class TrainTask { SequenceClassification, CausalLm };

struct TrainConfig {
  std::filesystem::path model;
  TrainTask task = TrainTask::SequenceClassification;
  std::filesystem::path train_data;
  std::filesystem::path eval_data;  // empty: no evaluation
  std::vector<std::string> labels;  // sequence_classification only
  int64_t max_length = 128;
  bool packing = false;  // causal_lm: concatenate rows into max_length blocks instead of padding each
  OFTConfig oft;
  double lr = 5e-3;
  double head_lr = 1e-3;  // the classification head (sequence_classification)
  double weight_decay = 0.0;
  int64_t batch_size = 16;
  int64_t steps = 100;
  uint64_t seed = 0;
  std::filesystem::path output_dir;
  int64_t save_every = 0;  // 0: only at the end
  bool resume = true;      // continue from output_dir/checkpoint when it exists
  // Only the keys TRAIN.json sets: they win over the host config's (distributed_settings.h).
  DistributedSettings distributed;
  // Where the model trains and its weights' dtype (adapters stay fp32): `oft train --device/--dtype` win over
  // these, these over the host config (compute_options.h). Checked names ("cpu", "cuda:1", "bf16", ...).
  std::optional<std::string> device;
  std::optional<std::string> dtype;

  // ConfigError naming the key for unknown keys, wrong types and values out of range.
  static TrainConfig load(const std::filesystem::path& file);
};

}  // namespace oft::app
