// Hugging Face model folders: config.json + safetensors (single file or shards) -> the architecture
// of its model_type, and back. Loading builds the tree on the meta device and then puts each
// checkpoint tensor in place of its meta parameter, so no weight is allocated twice.
#include "oft/hf/pretrained.h"

#include <map>
#include <set>
#include <utility>

#include <ATen/ATen.h>

#include "hf/architecture.h"
#include "hf/checkpoint_files.h"
#include "nn/module_types.h"
#include "oft/errors.h"
#include "oft/hf/companion_files.h"
#include "oft/io/atomic_file.h"
#include "oft/io/safetensors.h"
#include "oft/log.h"
#include "oft/nn/adaptable_module.h"

namespace oft::models {

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> types{"bert", "gpt2", "llama", "mistral", "qwen2"};
  return types;
}

namespace {
// Layers are built one by one, on the meta device too: a count from a hostile config.json must not
// exhaust memory before the checkpoint is compared with the model.
void check_layer_count(const nlohmann::json& config, const std::string& type) {
  constexpr int64_t kMaxLayers = 1024;  // published models have well under 200
  for (const char* key : {"num_hidden_layers", "n_layer"}) {
    if (!config.contains(key) || !config.at(key).is_number_integer()) continue;
    const auto n = config.at(key).get<int64_t>();  // an unsigned value above 2^63 reads negative
    if (n < 0 || n > kMaxLayers)
      throw FormatError("config.json of a " + type + " model: key '" + key + "' must be between 0 and " +
                        std::to_string(kMaxLayers) + ", got " + config.at(key).dump());
  }
}
}  // namespace

namespace detail {
Architecture build_architecture(const nlohmann::json& config, const BuildOptions& options) {
  if (!config.is_object() || !config.contains("model_type") || !config.at("model_type").is_string())
    throw FormatError("config.json has no \"model_type\" string (expected one of bert, gpt2, llama, mistral, qwen2)");
  const auto type = config.at("model_type").get<std::string>();
  check_layer_count(config, type);
  if (type == "bert") return build_bert(config, options);
  if (type == "gpt2") return build_gpt2(config, options);
  if (type == "llama" || type == "mistral" || type == "qwen2") return build_llama(config, options);
  throw FormatError("config.json model_type '" + type +
                    "' is not supported (supported: bert, gpt2, llama, mistral, qwen2)");
}
}  // namespace detail

namespace {

namespace fs = std::filesystem;
using detail::Architecture;
using detail::BuildOptions;
using detail::read_checkpoint;
using detail::read_json_file;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string list(const std::vector<std::string>& names, size_t limit = 12) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

std::string sizes_text(at::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}

std::optional<c10::ScalarType> dtype_named(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float16") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  return std::nullopt;
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    default:
      throw UsageError(std::string("model parameters in ") + c10::toString(t) +
                       " cannot be saved (float32, float16, bfloat16)");
  }
}

// transformers writes the dtype as "dtype" (v5) or "torch_dtype" (v4).
std::optional<c10::ScalarType> config_dtype(const nlohmann::json& config) {
  for (const char* key : {"dtype", "torch_dtype"})
    if (config.contains(key) && config.at(key).is_string())
      if (auto t = dtype_named(config.at(key).get<std::string>())) return t;
  return std::nullopt;
}

// Checkpoint names -> the model's names, as transformers' loading does for these models.
void normalize_keys(safetensors::TensorMap& tensors, const Architecture& a) {
  const std::string prefix = a.base_prefix + ".";
  safetensors::TensorMap out;
  bool prefixed = false;
  for (const auto& item : tensors) prefixed = prefixed || starts_with(item.first, prefix);
  for (auto& [key, tensor] : tensors) {
    std::string name = key;
    if (a.head_model && !prefixed && !starts_with(name, a.output_layer + "."))
      name = prefix + name;  // a bare base-model checkpoint (GPT2Model, LlamaModel)
    else if (!a.head_model && starts_with(name, prefix))
      name = name.substr(prefix.size());  // BertModel from a BertFor... checkpoint
    // TF-era names
    if (ends_with(name, "LayerNorm.gamma")) name = name.substr(0, name.size() - 5) + "weight";
    if (ends_with(name, "LayerNorm.beta")) name = name.substr(0, name.size() - 4) + "bias";
    out[name] = std::move(tensor);
  }
  tensors = std::move(out);
}

struct SlotRef {
  std::string path;
  std::shared_ptr<AdaptableModule> parent;
  std::string name;
  std::shared_ptr<torch::nn::Module> child;
};

// Every layer registered with register_layer, by its full name.
std::vector<SlotRef> slots_of(torch::nn::Module& root) {
  std::vector<SlotRef> out;
  for (const auto& item : root.named_modules("", /*include_self=*/true)) {
    auto parent = std::dynamic_pointer_cast<AdaptableModule>(item.value());
    if (!parent) continue;
    for (const auto& child : parent->named_children())
      if (parent->has_layer(child.key()))
        out.push_back(
            {item.key().empty() ? child.key() : item.key() + "." + child.key(), parent, child.key(), child.value()});
  }
  return out;
}

// The shape a quantized format's layer must fit in place of `m`: set for the dense linears of the
// table of module types.
std::optional<sdk::LinearShape> linear_shape(const std::shared_ptr<torch::nn::Module>& m) {
  auto type = module_type_of(m);
  if (!type || !type->dense_base || !type->dense_base->linear) return std::nullopt;
  const auto& linear = *type->dense_base->linear;
  return sdk::LinearShape{linear.in_features(), linear.out_features(),
                          m->named_parameters(/*recurse=*/false).contains("bias")};
}

bool under(const std::string& name, const std::set<std::string>& paths) {
  for (const auto& p : paths)
    if (starts_with(name, p + ".")) return true;
  return false;
}

// Gives a meta parameter its checkpoint tensor in place, as Python's `param.data = value` does: the
// TensorImpl stays the same object, so its module's table, the typed field the forward reads and a
// tied weight's other module all see the data, and it keeps its autograd settings. set_data() refuses
// meta -> CPU/CUDA only because the dispatch keys differ; between two plain strided tensors its
// shallow copy is exactly this.
void materialize(const at::Tensor& param, const at::Tensor& value) {
  TORCH_CHECK(param.is_meta() && param.layout() == at::kStrided && value.layout() == at::kStrided && !value.is_meta(),
              "materialize: expected a strided meta parameter and a strided tensor with data");
  param.unsafeGetTensorImpl()->shallow_copy_from(value.getIntrusivePtr());
}

Pretrained wrap(Architecture a, const nlohmann::json& config, std::string name_or_path,
                const FormatRegistry* formats = nullptr) {
  Pretrained p;
  p.module = a.module;
  p.forward = std::move(a.forward);
  p.output_name = a.output_name;
  p.config = config;
  p.info.model_type = config.at("model_type").get<std::string>();
  p.info.output_layer = a.output_layer;
  p.info.name_or_path = std::move(name_or_path);
  if (config.contains("quantization_config") && config.at("quantization_config").is_object()) {
    const auto& q = config.at("quantization_config");
    p.info.quantization_method = q.value("quant_method", std::string());
    p.info.quantization_config_json = q.dump();
    if (formats) p.info.merge_refusal = formats->model_merge_refusal(p.info.quantization_config_json);
  }
  return p;
}

// Linear layers whose checkpoint tensors a format recognizes become that format's layer; returns their paths.
std::set<std::string> load_quantized(const Architecture& a, const nlohmann::json& qconfig,
                                     safetensors::TensorMap& tensors, std::set<std::string>& used,
                                     const LoadOptions& options) {
  const std::string method = qconfig.value("quant_method", std::string("?"));
  if (!options.formats)
    throw FormatError("the checkpoint is quantized (quantization_config quant_method '" + method +
                      "'); loading it needs the backend plugin that provides this format (LoadOptions::formats)");
  const std::string qjson = qconfig.dump();
  std::set<std::string> quantized;
  for (const auto& slot : slots_of(*a.module)) {
    auto shape = linear_shape(slot.child);
    if (!shape) continue;
    sdk::TensorMap own;
    for (const auto& [key, t] : tensors)
      if (starts_with(key, slot.path + ".")) own[key.substr(slot.path.size() + 1)] = t;
    auto layer = options.formats->load(slot.path, own, *shape, qjson);
    if (!layer && !own.empty() && !own.count("weight")) {  // neither dense nor a complete quantized layer
      std::vector<std::string> names;
      for (const auto& item : own) names.push_back(item.first);
      throw FormatError("module " + slot.path + ": no loaded format recognizes its tensors (" + list(names) +
                        ") as a quantized layer of quant_method '" + method + "' (a tensor missing or renamed?)");
    }
    if (!layer) continue;  // dense module
    if (!options.device.is_cpu()) layer->to(options.device);
    slot.parent->replace_layer(slot.name, layer);
    quantized.insert(slot.path);
    for (const auto& item : own) used.insert(slot.path + "." + item.first);
  }
  if (quantized.empty())
    logger()->warn("quantization_config says '{}', but no linear module's tensors were recognized by a loaded format",
                   method);
  return quantized;
}

}  // namespace

Pretrained from_config(const nlohmann::json& config, c10::Device device) {
  BuildOptions options;
  options.device = device;
  return wrap(detail::build_architecture(config, options), config, config.value("_name_or_path", std::string()));
}

Pretrained load_pretrained(const fs::path& dir, const LoadOptions& options) {
  const auto config = read_json_file(dir / "config.json");
  BuildOptions build;
  build.device = c10::kMeta;
  Architecture a = detail::build_architecture(config, build);
  std::optional<c10::ScalarType> dtype = options.dtype ? options.dtype : config_dtype(config);
  if (options.device.is_meta()) {
    if (dtype) a.module->to(*dtype);
    return wrap(std::move(a), config, dir.string(), options.formats.get());
  }

  auto tensors = read_checkpoint(dir);
  normalize_keys(tensors, a);
  if (a.base_prefix == "bert" && !tensors.count("pooler.dense.weight")) {  // saved without the pooler
    build.bert_pooler = false;
    a = detail::build_architecture(config, build);
  }
  if (!dtype)
    for (const auto& item : tensors)
      if (at::isFloatingType(item.second.scalar_type())) {
        dtype = item.second.scalar_type();
        break;
      }

  std::set<std::string> used;
  std::set<std::string> quantized;
  if (config.contains("quantization_config") && config.at("quantization_config").is_object()) {
    try {
      quantized = load_quantized(a, config.at("quantization_config"), tensors, used, options);
    } catch (const FormatError& e) {  // the format names the module and tensor; this names the checkpoint
      throw FormatError("checkpoint " + dir.string() + ": " + e.what());
    }
  }

  std::vector<std::string> missing, mismatched;
  std::map<const c10::TensorImpl*, std::pair<at::Tensor, at::Tensor>> fresh;  // meta parameter -> it, its data
  for (const auto& item : a.module->named_parameters(/*recurse=*/true)) {
    const auto& name = item.key();
    if (under(name, quantized)) continue;
    if (a.tied.count(name)) {  // the tensor it is tied to brings it
      used.insert(name);
      continue;
    }
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    if (it->second.sizes() != item.value().sizes()) {
      mismatched.push_back(name + " (checkpoint " + sizes_text(it->second.sizes()) + ", " + a.class_name + " expects " +
                           sizes_text(item.value().sizes()) + ")");
      continue;
    }
    if (!at::isFloatingType(it->second.scalar_type())) {  // e.g. a quantized weight without its quantization_config
      mismatched.push_back(name + " (checkpoint dtype " + std::string(c10::toString(it->second.scalar_type())) +
                           ", expected a float dtype)");
      continue;
    }
    at::Tensor t = it->second.to(options.device, dtype.value_or(it->second.scalar_type()));
    fresh[item.value().unsafeGetTensorImpl()] = {item.value(), t};
  }
  if (!missing.empty() || !mismatched.empty()) {
    std::string message = "checkpoint " + dir.string() + " does not fit " + a.class_name + " (config.json):";
    if (!missing.empty()) message += " missing tensors: " + list(missing) + ".";
    if (!mismatched.empty()) message += " tensors of the wrong shape or dtype: " + list(mismatched) + ".";
    throw FormatError(message);
  }
  for (const auto& [impl, parameter] : fresh) materialize(parameter.first, parameter.second);

  std::vector<std::string> unexpected;
  for (const auto& item : tensors) {
    if (used.count(item.first)) continue;
    bool ignored = false;
    for (const auto& suffix : a.ignored_suffixes) ignored = ignored || ends_with(item.first, suffix);
    if (!ignored) unexpected.push_back(item.first);
  }
  if (!unexpected.empty())
    logger()->warn("{} tensors of {} are not used by {}: {}", unexpected.size(), dir.string(), a.class_name,
                   list(unexpected));
  logger()->info("loaded {} ({}) from {}{}", a.class_name, dtype ? dtype_name(*dtype) : "?", dir.string(),
                 quantized.empty() ? "" : ", " + std::to_string(quantized.size()) + " quantized linear layers");
  return wrap(std::move(a), config, dir.string(), options.formats.get());
}

void save_pretrained(const Pretrained& model, const fs::path& dir, const FormatRegistry* formats,
                     const fs::path& companions_from) {
  if (!model.module) throw UsageError("save_pretrained: the model is empty");
  BuildOptions meta;
  meta.device = c10::kMeta;
  // The tied names and prefixes come from the architecture, not from the (maybe adapted) tree.
  const Architecture a = detail::build_architecture(model.config, meta);

  safetensors::TensorMap out;
  std::set<std::string> quantized;
  for (const auto& slot : slots_of(*model.module)) {
    auto layer = std::dynamic_pointer_cast<sdk::LinearModule>(slot.child);
    if (!layer) continue;
    if (!formats)
      throw UsageError("save_pretrained: layer '" + slot.path + "' is quantized (" + layer->format() +
                       "); saving it needs the format registry of the plugins");
    for (auto& [name, t] : formats->save(slot.path, *layer)) out[slot.path + "." + name] = t;
    quantized.insert(slot.path);
  }
  std::optional<c10::ScalarType> dtype;
  for (const auto& item : model.module->named_parameters(/*recurse=*/true)) {
    const auto& name = item.key();
    if (name.find(".oft_R.") != std::string::npos || name.find(".base_layer.") != std::string::npos ||
        name.find(".modules_to_save.") != std::string::npos)
      throw UsageError("save_pretrained: the model still holds OFT layers ('" + name +
                       "'); call merge_and_unload() first (or save the adapter with OFTModel::save_pretrained)");
    if (under(name, quantized) || a.tied.count(name)) continue;
    if (item.value().is_meta())
      throw UsageError("save_pretrained: parameter '" + name + "' is on the meta device (no data)");
    if (!dtype && at::isFloatingType(item.value().scalar_type())) dtype = item.value().scalar_type();
    out[name] = item.value().detach();
  }

  nlohmann::json config = model.config;
  if (dtype) {
    config["dtype"] = dtype_name(*dtype);
    if (config.contains("torch_dtype")) config["torch_dtype"] = dtype_name(*dtype);
  }
  if (quantized.empty()) config.erase("quantization_config");
  if (!config.contains("architectures")) config["architectures"] = {a.class_name};

  // The folder is built aside and renamed into place: a kill leaves the old folder or none, never half of one.
  write_folder_atomically(dir, [&](const fs::path& tmp) {
    safetensors::save(tmp / "model.safetensors", out, {{"format", "pt"}});
    write_atomically(tmp / "config.json", [&](std::ostream& os) { os << config.dump(2) << "\n"; });
    if (!companions_from.empty()) copy_companion_files(companions_from, tmp);
  });
}

}  // namespace oft::models
