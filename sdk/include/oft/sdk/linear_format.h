#pragma once
// A backend's quantized linear format: how its layer is read from checkpoint tensors (the loader),
// made from float weights (the quantizer), and written back. The host's checkpoint loader asks each
// registered format whether it recognizes a linear module's tensors; `oft quantize` finds a format by
// the quantize methods it offers; merging asks the formats whether the model's quantization_config
// forbids it. The layers a format makes are LinearModules: torch modules the model calls directly, and
// LinearBases that OFT sits on (the backend's dispatcher claims them).
//
// Errors: throw std::exception subclasses (std::invalid_argument for bad tensors or options) whose
// message names the tensor or option and what was expected; the host adds the module path and the
// plugin. JSON crosses the boundary as text, so plugin and host need not share a JSON library.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "oft/sdk/base_layer.h"
#include "oft/sdk/quantize_method.h"

namespace oft::sdk {

// A layer made by a format. Registered in the model under the module's name, so its tensors'
// state-dict names are "<path>.<tensor>"; OFT's wrapper registers it as "base_layer".
// \since ABI 1.1.
class OFT_SDK_VISIBLE LinearModule : public torch::nn::Module, public LinearBase {
 public:
  using torch::nn::Module::Module;
  std::shared_ptr<torch::nn::Module> module() override { return shared_from_this(); }
  // The name of the LinearFormat that made this layer (and can save it).
  virtual std::string format() const = 0;
};

// One module's tensors as a checkpoint stores them, named relative to the module: "weight", "bias",
// "SCB", "weight.absmax", "qweight", ...
using TensorMap = std::map<std::string, at::Tensor>;

// The tensor stored under `key`, or an undefined tensor when there is none (a loader's optional tensors).
inline at::Tensor find_tensor(const TensorMap& tensors, const std::string& key) {
  const auto it = tensors.find(key);
  return it == tensors.end() ? at::Tensor() : it->second;
}

struct LinearShape {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;
};

// \since ABI 1.1.
class OFT_SDK_VISIBLE LinearFormat {
 public:
  virtual ~LinearFormat() = default;

  // Unique among loaded formats; layers name it in LinearModule::format() (e.g. "bnb_4bit").
  virtual std::string name() const = 0;

  // Loader: whether these checkpoint tensors of one linear module are in this format, given the
  // model's config.json "quantization_config" as JSON text ("" when absent).
  virtual bool recognizes(const TensorMap& tensors, const std::string& quantization_config_json) const = 0;
  // Loader: the layer from the tensors recognize() accepted. `shape` comes from the model's
  // architecture; a tensor that is missing or does not fit it is an error naming the tensor.
  virtual std::shared_ptr<LinearModule> load(const TensorMap& tensors, const LinearShape& shape,
                                             const std::string& quantization_config_json) const = 0;

  // Quantizer: the layer for a float weight (out_features, in_features) and bias (undefined when
  // none). `options_json` holds the format's settings as its quantization_config writes them (e.g.
  // {"bits": 4, "group_size": 128}); "" or "{}" means the defaults. `calibration` holds input
  // activations (N, in_features) for formats that need data (GPTQ) and is undefined otherwise.
  virtual std::shared_ptr<LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                 const std::string& options_json,
                                                 const at::Tensor& calibration) const = 0;
  // The config.json "quantization_config" for a model quantized with `options_json`, as JSON text.
  virtual std::string quantization_config(const std::string& options_json) const = 0;

  // Saving: the checkpoint tensors of a layer this format made, named as load() reads them.
  virtual TensorMap save(const LinearModule& layer) const = 0;

  // The `oft quantize` methods this format offers, each calling quantize() with its default options
  // (none: the format only loads checkpoints).
  virtual std::vector<QuantizeMethod> quantize_methods() const = 0;  // \since ABI 2.0
  // Why merging OFT adapters is refused for every layer of a model whose config.json
  // "quantization_config" is `quantization_config_json` (JSON text, "" when absent), whatever each
  // layer's own MergePolicy says; "" when this format does not refuse it. E.g. PEFT refuses any merge
  // in a model whose quantization_method is "gptq".
  virtual std::string model_merge_refusal(const std::string& quantization_config_json) const = 0;  // \since ABI 2.0
};

}  // namespace oft::sdk
