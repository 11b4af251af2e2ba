#pragma once
// Dispatchers decide which layer OFT sits on. For each targeted module the host asks its
// dispatchers in priority order (lower first, ties by name); the first that claims the module
// returns the base layer for the OFT wrapper. Backends (plugins) register dispatchers for their
// quantized linear types (one that claims the modules of one layer type is one line:
// oft/sdk/typed_dispatcher.h); the host's built-in "default" dispatcher (priority 1000) takes dense
// Linear, Conv1D, Conv2d and Embedding.
//
// Each backend names its own priority next to its dispatcher. PEFT's order, which backends of the
// same libraries take: bnb_8bit 100, bnb_4bit 200, eetq 300, aqlm 400, awq 500, gptq 600, hqq 700,
// inc 800, default 1000. A new backend picks a free number below 1000.
#include <memory>
#include <optional>
#include <string>

#include <torch/nn/module.h>

#include "oft/sdk/base_layer.h"

namespace oft::sdk {

struct ModuleRef {
  std::string path;                           // dotted name in the model, e.g. "model.layers.0.q_proj"
  std::shared_ptr<torch::nn::Module> module;  // the module to adapt
};

struct DispatchContext {
  // The model's config.json "quantization_config" as JSON text ("" when the model is not quantized),
  // as PEFT hands gptq/aqlm/awq configs to its dispatchers.
  std::string quantization_config_json;
};

// What a claim yields: the LinearBase OFT's Linear wrapper sits on (for a LinearModule, the module
// itself). Must not be null.
struct Claim {
  std::shared_ptr<LinearBase> linear;
};

class OFT_SDK_VISIBLE Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual std::string name() const = 0;
  virtual int priority() const = 0;
  // std::nullopt: not this dispatcher's module type. May throw; the host reports the dispatcher and
  // module and goes on to the next dispatcher.
  virtual std::optional<Claim> claim(const ModuleRef& module, const DispatchContext& context) = 0;
};

}  // namespace oft::sdk
