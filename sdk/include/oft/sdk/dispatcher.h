#pragma once
// Dispatchers decide which layer OFT sits on. For each targeted module the host asks its
// dispatchers in priority order (lower first, ties by name); the first that claims the module
// returns the base layer for the OFT wrapper. Backends (plugins) register dispatchers for their
// quantized linear types; the host's built-in "default" dispatcher (priority 1000) takes dense
// Linear, Conv1D, Conv2d and Embedding.
#include <memory>
#include <optional>
#include <string>

#include <torch/nn/module.h>

#include "oft/sdk/base_layer.h"

namespace oft::sdk {

// The shipped backends take PEFT's order.
namespace priority {
inline constexpr int kBnb8bit = 100;
inline constexpr int kBnb4bit = 200;
inline constexpr int kEetq = 300;
inline constexpr int kAqlm = 400;
inline constexpr int kAwq = 500;
inline constexpr int kGptq = 600;
inline constexpr int kHqq = 700;
inline constexpr int kInc = 800;
inline constexpr int kDefault = 1000;
}  // namespace priority

struct ModuleRef {
  std::string path;                            // dotted name in the model, e.g. "model.layers.0.q_proj"
  std::shared_ptr<torch::nn::Module> module;   // the module to adapt
};

struct DispatchContext {
  // The model's config.json "quantization_config" as JSON text ("" when the model is not quantized),
  // as PEFT hands gptq/aqlm/awq configs to its dispatchers.
  std::string quantization_config_json;
};

// What a claim yields: a linear base for OFT's Linear wrapper, or (built-in dispatcher only) the
// instruction to wrap a torch::nn::Conv2d / Embedding with OFT's own layer for it.
struct Claim {
  enum class Kind { Linear, Conv2d, Embedding };
  Kind kind = Kind::Linear;
  std::shared_ptr<LinearBase> linear;  // set for Kind::Linear
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual std::string name() const = 0;
  virtual int priority() const = 0;
  // std::nullopt: not this dispatcher's module type. May throw; the host reports the dispatcher and
  // module and goes on to the next dispatcher.
  virtual std::optional<Claim> claim(const ModuleRef& module, const DispatchContext& context) = 0;
};

}  // namespace oft::sdk
