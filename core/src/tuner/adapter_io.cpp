// OFTModel: saving and loading adapters in PEFT's file format.
#include <set>

#include <torch/csrc/autograd/grad_mode.h>

#include "oft/errors.h"
#include "oft/io/safetensors.h"
#include "oft/log.h"
#include "oft/tuner/oft_model.h"

namespace oft {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPrefix = "base_model.model.";
constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// PEFT 0.14-0.15 stored "<module>.oft_r" / "<module>.oft_s": a format whose meaning changed.
bool is_old_oft_key(const std::string& key) {
  return ends_with(key, ".oft_r") || ends_with(key, ".oft_s") || key.find(".oft_r.") != std::string::npos ||
         key.find(".oft_s.") != std::string::npos;
}

fs::path adapter_dir(const fs::path& dir, const std::string& name) { return name == "default" ? dir : dir / name; }

}  // namespace

std::map<std::string, at::Tensor> OFTModel::adapter_parameters(const std::string& name) const {
  std::map<std::string, at::Tensor> params;
  for (const auto& [path, layer] : layers_)
    if (layer->has_adapter(name))
      params[path + "." + layer->container_name() + ".weight"] = layer->rotation(name)->weight;
  const Bias bias = config(name).bias;
  if (bias == Bias::All) {
    for (const auto& item : model_->named_parameters()) {
      const bool is_bias = item.key() == "bias" || ends_with(item.key(), ".bias");
      const bool in_saved_copy = item.key().find(".modules_to_save.") != std::string::npos ||
                                 item.key().find(".original_module.") != std::string::npos;
      if (is_bias && !in_saved_copy) params[item.key()] = item.value();
    }
  } else if (bias == Bias::OftOnly) {
    for (const auto& [path, layer] : layers_) {
      // find() points into the dict: it must outlive the pointer (ASan found a use after free here).
      const auto own = layer->base_module()->named_parameters(false);
      if (const auto* b = own.find("bias")) params[path + ".base_layer.bias"] = *b;
    }
  }
  for (const auto& [path, wrapper] : saved_)
    if (wrapper->has_adapter(name))
      for (const auto& item : wrapper->copy(name)->named_parameters()) params[path + "." + item.key()] = item.value();
  return params;
}

void OFTModel::save_pretrained(const fs::path& dir, std::optional<std::vector<std::string>> adapters) const {
  for (const auto& name : adapters.value_or(adapter_names())) {
    OFTConfig saved = config(name);
    saved.inference_mode = true;  // as PEFT writes it
    if (!saved.base_model_name_or_path && !info_.name_or_path.empty())
      saved.base_model_name_or_path = info_.name_or_path;
    safetensors::TensorMap tensors;
    for (const auto& [key, tensor] : adapter_parameters(name)) {
      if (tensor.is_meta())
        throw UsageError("adapter '" + name +
                         "' has no weights yet (created with low_cpu_mem_usage): load them before saving");
      tensors[kPrefix + key] = tensor;
    }
    const fs::path out = adapter_dir(dir, name);
    fs::create_directories(out);
    safetensors::save(out / kWeightsFile, tensors, {{"format", "pt"}});
    saved.save(out / kConfigFile);
    logger()->info("saved adapter '{}' ({} tensors) to {}", name, tensors.size(), out.string());
  }
}

void OFTModel::load_adapter(const fs::path& dir, const std::string& name, const AdapterLoadOptions& options) {
  OFTConfig config = OFTConfig::load(dir / kConfigFile);
  add_adapter(name, config, options.low_cpu_mem_usage);
  try {
    load_weights(dir, name, options.is_trainable);
  } catch (...) {
    delete_adapter(name);
    throw;
  }
}

OFTModel OFTModel::from_pretrained(std::shared_ptr<torch::nn::Module> model, const fs::path& dir,
                                   OFTModelOptions options) {
  const std::string adapter_name = options.adapter_name;
  const bool is_trainable = options.is_trainable;
  OFTModel result(std::move(model), OFTConfig::load(dir / kConfigFile), std::move(options));
  try {
    result.load_weights(dir, adapter_name, is_trainable);
  } catch (...) {
    result.unload();  // give the caller's model back as it was
    throw;
  }
  return result;
}

void OFTModel::load_weights(const fs::path& dir, const std::string& name, bool is_trainable) {
  const fs::path file = dir / kWeightsFile;
  if (!fs::exists(file)) throw FormatError(file.string() + ": not found (expected PEFT's adapter_model.safetensors)");
  safetensors::Contents contents = safetensors::load(file);
  std::map<std::string, at::Tensor> stored;
  for (auto& [key, tensor] : contents.tensors) {
    if (is_old_oft_key(key))
      throw FormatError(file.string() + ": key '" + key +
                        "' is from the OFT format of PEFT <= 0.15.2, which is no "
                        "longer supported (it would load as an identity adapter). Retrain the adapter with a current "
                        "PEFT or with oft.");
    const std::string bare = key.rfind(kPrefix, 0) == 0 ? key.substr(std::string(kPrefix).size()) : key;
    stored[bare] = tensor;
  }

  const auto expected = adapter_parameters(name);
  std::vector<std::string> missing;
  for (const auto& [key, param] : expected) {
    auto it = stored.find(key);
    if (it == stored.end()) {
      missing.push_back(key);
      continue;
    }
    const at::Tensor& value = it->second;
    if (value.sizes() != param.sizes())
      throw FormatError(file.string() + ": tensor '" + key + "' has shape " + c10::str(value.sizes()) +
                        " but adapter '" + name + "' on this model needs " + c10::str(param.sizes()) +
                        " (different model or config?)");
    if (!at::isFloatingType(value.scalar_type()))
      throw FormatError(file.string() + ": tensor '" + key + "' has dtype " +
                        std::string(c10::toString(value.scalar_type())) + "; expected a floating-point dtype");
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw FormatError(file.string() + ": missing " + std::to_string(missing.size()) + " tensor(s) for adapter '" +
                      name + "': " + list);
  }
  std::map<std::string, std::shared_ptr<OFTLayer>> rotation_owner;  // file key -> layer holding that rotation
  for (const auto& [path, layer] : layers_) rotation_owner[path + "." + layer->container_name() + ".weight"] = layer;
  torch::NoGradGuard no_grad;
  for (const auto& [key, param] : expected) {
    const at::Tensor value = stored.at(key).to(param.scalar_type());
    if (!param.is_meta()) {
      at::Tensor(param).copy_(value);
    } else if (auto owner = rotation_owner.find(key); owner != rotation_owner.end()) {
      owner->second->materialize_adapter(name, value);  // a low_cpu_mem_usage adapter gets its weights
    } else {
      throw FormatError("cannot load '" + key +
                        "' into a parameter on the meta device (only adapter weights are "
                        "materialized on load)");
    }
    stored.erase(key);
  }
  for (const auto& [key, unused] : stored)
    logger()->debug("{}: ignoring tensor '{}' that this model has no place for", file.string(), key);
  inference_mode_[name] = !is_trainable;
  mark_trainable();
}

}  // namespace oft
