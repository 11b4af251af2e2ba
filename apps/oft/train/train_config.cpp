#include "train_config.h"

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "oft/device/device.h"
#include "oft/errors.h"

namespace oft::app {
namespace {

using nlohmann::json;

void only_keys(const json& object, const std::string& where, const std::set<std::string>& allowed) {
  if (!object.is_object()) throw ConfigError(where + " must be a JSON object, found " + object.dump());
  for (const auto& [key, value] : object.items())
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError("unknown key '" + key + "' in " + where + " (expected " + list + ")");
    }
}

template <class T>
T get(const json& object, const std::string& key, const std::string& where, T fallback) {
  if (!object.contains(key)) return fallback;
  try {
    return object.at(key).get<T>();
  } catch (const json::exception&) {
    throw ConfigError(where + "." + key + " has the wrong type: " + object.at(key).dump());
  }
}

template <class T>
T required(const json& object, const std::string& key, const std::string& where) {
  if (!object.contains(key)) throw ConfigError(where + "." + key + " is required");
  return get<T>(object, key, where, T{});
}

int64_t positive(int64_t value, const std::string& name) {
  if (value <= 0) throw ConfigError(name + " must be positive, got " + std::to_string(value));
  return value;
}

}  // namespace

TrainConfig TrainConfig::load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError("cannot read train config " + file.string());
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw ConfigError("train config " + file.string() + " is not valid JSON: " + e.what());
  }
  const std::string top = "train config";
  only_keys(j, top,
            {"model", "task", "data", "oft", "optimizer", "batch_size", "steps", "seed", "output_dir", "save_every",
             "resume", "distributed", "device", "dtype"});
  const auto base = std::filesystem::absolute(file).parent_path();
  auto path = [&](const std::string& p) { return p.empty() ? std::filesystem::path() : base / p; };

  TrainConfig c;
  c.model = path(required<std::string>(j, "model", top));
  const auto task = get<std::string>(j, "task", top, "sequence_classification");
  if (task == "sequence_classification")
    c.task = TrainTask::SequenceClassification;
  else if (task == "causal_lm")
    c.task = TrainTask::CausalLm;
  else
    throw ConfigError("train config task must be \"sequence_classification\" or \"causal_lm\", got \"" + task + "\"");

  if (!j.contains("data")) throw ConfigError("train config.data is required");
  const json& data = j.at("data");
  only_keys(data, "train config.data", {"train", "eval", "labels", "max_length", "packing"});
  c.train_data = path(required<std::string>(data, "train", "data"));
  c.eval_data = path(get<std::string>(data, "eval", "data", ""));
  c.labels = get<std::vector<std::string>>(data, "labels", "data", {});
  c.max_length = positive(get<int64_t>(data, "max_length", "data", c.max_length), "data.max_length");
  c.packing = get<bool>(data, "packing", "data", c.packing);
  if (c.packing && c.task != TrainTask::CausalLm) throw ConfigError("data.packing is for task causal_lm only");
  if (c.task == TrainTask::SequenceClassification && c.labels.size() < 2)
    throw ConfigError("data.labels must list at least two label names for sequence_classification");

  c.oft = OFTConfig::from_json(j.value("oft", json::object()));
  if (j.contains("optimizer")) {
    const json& opt = j.at("optimizer");
    only_keys(opt, "train config.optimizer", {"lr", "head_lr", "weight_decay"});
    c.lr = get<double>(opt, "lr", "optimizer", c.lr);
    c.head_lr = get<double>(opt, "head_lr", "optimizer", c.head_lr);
    c.weight_decay = get<double>(opt, "weight_decay", "optimizer", c.weight_decay);
  }
  c.batch_size = positive(get<int64_t>(j, "batch_size", top, c.batch_size), "batch_size");
  c.steps = positive(get<int64_t>(j, "steps", top, c.steps), "steps");
  c.seed = get<uint64_t>(j, "seed", top, c.seed);
  c.output_dir = path(required<std::string>(j, "output_dir", top));
  c.save_every = get<int64_t>(j, "save_every", top, c.save_every);
  if (c.save_every < 0) throw ConfigError("save_every must be >= 0");
  c.resume = get<bool>(j, "resume", top, c.resume);
  try {  // names checked now, used once the model loads
    if (j.contains("device")) {
      c.device = get<std::string>(j, "device", top, "");
      parse_device(*c.device, top + " device");
    }
    if (j.contains("dtype")) {
      c.dtype = get<std::string>(j, "dtype", top, "");
      parse_dtype(*c.dtype, top + " dtype");
    }
  } catch (const UsageError& e) {
    throw ConfigError(e.what());
  }
  if (j.contains("distributed"))
    c.distributed =
        distributed_settings_from_json(j.at("distributed"), "train config " + file.string() + ": distributed");
  return c;
}

}  // namespace oft::app
