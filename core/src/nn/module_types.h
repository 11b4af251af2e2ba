#pragma once
// The module types the host knows, in one table (module_types.cpp): how a LayerSlot calls each one,
// which of them are linear layers, and the OFT layer the host's own "default" dispatcher puts on
// the dense ones. forward_of, PEFT's "all-linear", the checkpoint loader's linear shapes and the
// default dispatcher all read it, so a new base type is one row there.
#include <memory>
#include <optional>

#include <torch/nn/module.h>

#include "oft/nn/adaptable_module.h"
#include "oft/plugin/dispatcher_registry.h"

namespace oft {

struct ModuleType {
  LayerForward forward;
  // A linear layer for "all-linear": a dense one, a backend's quantized one (sdk::LinearModule) or
  // one OFT already adapts.
  bool linear = false;
  // Set for the dense bases the host adapts itself; its `linear` is set for the dense linears.
  std::optional<HostClaim> dense_base;
};

// The row of `module`'s type; std::nullopt for a type the host does not know.
std::optional<ModuleType> module_type_of(const std::shared_ptr<torch::nn::Module>& module);

}  // namespace oft
