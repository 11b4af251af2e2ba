// `oft quantize --model DIR --method METHOD [--options JSON] [--calibration IN.safetensors] --out DIR`
// Quantizes every linear layer of a dense checkpoint (except the output layer, which transformers
// also keeps dense) with a backend plugin's format, and writes a checkpoint (config.json with
// quantization_config + safetensors, and the model folder's tokenizer and generation files) that oft and, where it
// runs, the Python library load.
// The methods are those the loaded plugins' formats offer (`oft quantize --help` lists them).
// A method that needs calibration gets activations: the inputs each linear layer sees when the dense
// model runs on the calibration token ids (one pass, all layers at once; the reference GPTQ instead
// re-runs each block on the already-quantized previous blocks).
// A format that also searches per-channel input scales (sdk::InputScaleSearch, e.g. AWQ) gets, for each
// group of linears reading one input (models::input_scale_groups), their weights and inputs; its scale s
// is folded into the model (the producing norm or linear divided by s, the readers' columns multiplied by
// s), and the readers are then quantized from the folded weights with their inputs divided by s.
#include <algorithm>
#include <iomanip>
#include <map>
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include "commands.h"
#include "model_session.h"
#include "oft/errors.h"
#include "oft/hf/input_scale_fold.h"
#include "oft/hf/input_scale_groups.h"
#include "oft/io/safetensors.h"
#include "oft/log.h"
#include "oft/sdk/input_scale_search.h"
#include "oft/sdk/linear_format.h"
#include "oft/tuner/target_plan.h"

namespace oft::app {
namespace {

struct QuantizeOptions {
  std::string model;
  std::string method;
  std::string options = "{}";
  std::string calibration;
  std::string out;
  ComputeFlags compute;
};

// The loaded plugins' methods, for `oft quantize --help` (the only time help loads the plugins).
std::string methods_help(Host& host) {
  std::ostringstream text;
  text << "Methods (from the loaded plugins; `oft plugins` shows where they come from):\n";
  try {
    const auto methods = host.formats()->methods();
    if (methods.empty()) text << "  (none: are the backend plugins on the plugin path?)\n";
    for (const auto& m : methods)
      text << "  " << std::left << std::setw(18) << m.method.name << " " << m.method.description << " [format "
           << m.format << (m.method.needs_calibration ? "; needs --calibration" : "") << "]\n";
  } catch (const std::exception& e) {
    text << "  (the plugins could not be loaded: " << e.what() << ")\n";
  }
  return text.str();
}

// Stands in for a dense linear while the model runs on calibration data: records its inputs.
class RecordingLinear final : public sdk::LinearModule {
 public:
  explicit RecordingLinear(std::shared_ptr<sdk::LinearBase> dense) : dense_(std::move(dense)) {}
  std::string format() const override { return "recording"; }
  std::string type_name() const override { return "RecordingLinear"; }
  int64_t in_features() const override { return dense_->in_features(); }
  int64_t out_features() const override { return dense_->out_features(); }
  c10::ScalarType compute_dtype() const override { return dense_->compute_dtype(); }
  c10::Device device() const override { return dense_->device(); }
  at::Tensor forward(const at::Tensor& x) override {
    inputs.push_back(x.detach().reshape({-1, x.size(-1)}).to(at::kFloat));
    return dense_->forward(x);
  }
  sdk::MergePolicy merge_policy() const override { return dense_->merge_policy(); }
  at::Tensor dense_weight() override { return dense_->dense_weight(); }
  void set_dense_weight(const at::Tensor& w) override { dense_->set_dense_weight(w); }
  std::vector<at::Tensor> inputs;

 private:
  std::shared_ptr<sdk::LinearBase> dense_;
};

// The block a module belongs to, for logging: its path up to the first numeric part ("model.layers.3").
std::string block_of(const std::string& path) {
  for (size_t begin = 0; begin < path.size();) {
    const size_t end = std::min(path.find('.', begin), path.size());
    if (end > begin && path.find_first_not_of("0123456789", begin) >= end) return path.substr(0, end);
    begin = end + 1;
  }
  return path;
}

// Searches and folds the input scale of every group of linears that read one input (see the top of the
// file); `calibration` (each linear's inputs) is divided by the scales. Nothing when the format has no
// InputScaleSearch or the options turn it off.
void fold_input_scales(const models::Pretrained& model, const std::string& format_name, const sdk::LinearFormat& format,
                       const std::string& options_json, std::map<std::string, std::shared_ptr<sdk::LinearBase>>& dense,
                       std::map<std::string, at::Tensor>& calibration) {
  const auto* search = dynamic_cast<const sdk::InputScaleSearch*>(&format);
  if (search == nullptr) return;
  std::vector<std::string> paths;
  for (const auto& item : model.module->named_modules(/*name_prefix=*/"", /*include_self=*/false))
    paths.push_back(item.key());
  std::map<std::string, size_t> groups_per_block;
  for (const auto& group : models::input_scale_groups(model.info.model_type, paths)) {
    const auto quantized = [&](const std::string& path) { return dense.count(path) && calibration.count(path); };
    if (!std::all_of(group.readers.begin(), group.readers.end(), quantized) ||
        (group.producer_kind == models::InputScaleGroup::Producer::Linear && !dense.count(group.producer)))
      continue;  // only layers this command quantizes (and so holds dense) are rewritten
    std::vector<at::Tensor> weights;
    for (const auto& reader : group.readers) weights.push_back(dense[reader]->dense_weight().detach());
    at::Tensor scale;
    try {
      scale = search->search_input_scale(weights, options_json, calibration[group.readers.front()]);
    } catch (const std::exception& e) {
      throw UsageError("input scale search of format " + format_name + " for the inputs of " + group.producer +
                       " failed: " + e.what());
    }
    if (!scale.defined()) return;  // turned off by the options
    const int64_t channels = weights.front().size(1);
    if (scale.dim() != 1 || scale.size(0) != channels || !at::isfinite(scale).all().item<bool>() ||
        !(scale > 0).all().item<bool>())
      throw PluginError("format " + format_name + " returned an input scale for " + group.producer + " that is not " +
                        std::to_string(channels) + " positive finite numbers");
    models::fold_input_scale(*model.module, group, scale);
    const at::Tensor s = scale.to(at::kFloat);
    for (const auto& reader : group.readers) calibration[reader] = calibration[reader] / s;
    logger()->debug("input scale folded into {} and its readers {}: min {:.4g}, max {:.4g}", group.producer,
                    group.readers.front() + (group.readers.size() > 1 ? ", ..." : ""), s.min().item<double>(),
                    s.max().item<double>());
    ++groups_per_block[block_of(group.producer)];
  }
  for (const auto& [block, groups] : groups_per_block)
    logger()->info("{}: folded {} input scales searched by {}", block, groups, format_name);
}

void run_quantize(Host& host, const QuantizeOptions& o) {
  const auto formats = host.formats();
  const MethodInfo method = formats->method(o.method);  // fails early, naming the available methods
  nlohmann::json options = nlohmann::json::parse(method.method.default_options_json);
  try {
    options.update(nlohmann::json::parse(o.options));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("--options must be a JSON object: " + std::string(e.what()));
  }
  const bool calibrated = method.method.needs_calibration;
  if (calibrated && o.calibration.empty())
    throw UsageError("--method " + o.method + " needs --calibration IN.safetensors (input_ids of sample text)");

  ModelSession session = load_model(host, o.model, resolve_compute(host, o.compute));
  warn_output_dtype_from_host(host, o.compute, "the quantized checkpoint's unquantized tensors");
  auto& model = session.model;
  // The linear layers: PEFT's "all-linear" selection (every linear layer but the output layer).
  OFTConfig all_linear;
  all_linear.target_modules = ModuleSelector::from_regex("all-linear");
  PlanOptions plan_options;
  plan_options.model_type = model.info.model_type;
  plan_options.output_layer = model.info.output_layer;
  const std::vector<std::string> linears = plan_targets(*model.module, all_linear, plan_options).targets;
  // The module tree as loaded, walked once: parents are never replaced, and each dense layer is
  // looked up before anything is swapped.
  const auto modules = model.module->named_modules(/*name_prefix=*/"", /*include_self=*/false);
  auto parent_of = [&](const std::string& path) {
    const auto dot = path.rfind('.');
    std::shared_ptr<torch::nn::Module> parent = model.module;
    if (dot != std::string::npos) parent = modules[path.substr(0, dot)];
    auto declared = std::dynamic_pointer_cast<AdaptableModule>(parent);
    if (!declared) throw UsageError("cannot replace " + path + ": its parent does not declare replaceable layers");
    return std::make_pair(declared, dot == std::string::npos ? path : path.substr(dot + 1));
  };
  auto dense_of = [&](const std::string& path) {
    const auto& module = modules[path];
    auto claim = host.dispatchers()->dispatch({path, module}, {model.info.quantization_config_json});
    if (!claim.claim.linear || claim.dispatcher != "default")
      throw UsageError(path + " is not a dense linear layer (claimed by " + claim.dispatcher +
                       "); quantize a dense checkpoint");
    return claim.claim.linear;
  };

  // Each layer's dense view and bias, taken before any layer is swapped.
  std::map<std::string, std::shared_ptr<sdk::LinearBase>> dense;
  std::map<std::string, at::Tensor> bias;
  for (const auto& path : linears) {
    dense[path] = dense_of(path);
    for (const auto& p : dense[path]->module()->named_parameters(/*recurse=*/false))
      if (p.key() == "bias") bias[path] = p.value().detach();
  }
  std::map<std::string, at::Tensor> calibration;  // each linear's recorded inputs (N, in)
  if (calibrated) {
    std::map<std::string, std::shared_ptr<RecordingLinear>> recorders;
    for (const auto& path : linears) {
      auto recorder = std::make_shared<RecordingLinear>(dense[path]);
      auto [parent, name] = parent_of(path);
      parent->replace_layer(name, recorder);
      recorders[path] = recorder;
    }
    const auto inputs = safetensors::load(o.calibration).tensors;
    if (!inputs.count("input_ids")) throw UsageError(o.calibration + " has no 'input_ids' tensor");
    torch::NoGradGuard no_grad;
    const c10::Device device = session.compute.device;
    const auto ids = inputs.at("input_ids").to(device, at::kLong);
    model.forward(ids,
                  inputs.count("attention_mask") ? inputs.at("attention_mask").to(device, at::kLong) : at::Tensor());
    for (const auto& path : linears) {
      calibration[path] = at::cat(recorders[path]->inputs);
      auto [parent, name] = parent_of(path);
      parent->replace_layer(name, dense[path]->module());  // the dense layer again, for the folding below
    }
    fold_input_scales(model, method.format, *formats->get(method.format), options.dump(), dense, calibration);
  }
  int64_t done = 0;
  for (const auto& path : linears) {
    const at::Tensor inputs = calibration.count(path) ? calibration[path] : at::Tensor();
    auto quantized = formats->quantize(method.format, path, dense[path]->dense_weight().detach(), bias[path],
                                       options.dump(), inputs);
    auto [parent, name] = parent_of(path);
    parent->replace_layer(name, quantized);
    logger()->info("[{}/{}] quantized {} ({} x {})", ++done, linears.size(), path, dense[path]->out_features(),
                   dense[path]->in_features());
  }
  model.config["quantization_config"] =
      nlohmann::json::parse(formats->get(method.format)->quantization_config(options.dump()));
  models::save_pretrained(model, o.out, formats.get(), o.model);  // with the tokenizer and generation files
  logger()->info("wrote {} ({} linear layers quantized with {})", o.out, linears.size(), method.format);
}

}  // namespace

void add_quantize_command(CLI::App& app, Host& host) {
  auto o = std::make_shared<QuantizeOptions>();
  auto* cmd = app.add_subcommand("quantize", "Quantize a dense checkpoint's linear layers with a backend plugin");
  cmd->add_option("--model", o->model, "dense Hugging Face model folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--method", o->method, "one of the methods listed below")->required();
  cmd->add_option("--options", o->options,
                  "the format's settings as its quantization_config names them, e.g. "
                  "'{\"bits\": 4, \"group_size\": 128}'");
  cmd->add_option("--calibration", o->calibration,
                  "safetensors with input_ids (and attention_mask): calibration text, for methods that need it")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "folder for the quantized checkpoint")->required();
  add_compute_options(*cmd, o->compute, /*eval_flag=*/false);
  cmd->footer([&host] { return methods_help(host); });
  cmd->callback([o, &host] { run_quantize(host, *o); });
}

}  // namespace oft::app
