#pragma once
// A backend's dispatcher in one line: it claims the modules of one layer type (the backend's
// LinearModule) and gives each to OFT as its own LinearBase.
//
//   registrar.add(std::make_shared<oft::sdk::TypedDispatcher<MyLinear>>("my_format", 450));
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "oft/sdk/dispatcher.h"

namespace oft::sdk {

template <class Layer>
class TypedDispatcher final : public Dispatcher {
  static_assert(std::is_base_of_v<torch::nn::Module, Layer> && std::is_base_of_v<LinearBase, Layer>,
                "TypedDispatcher<Layer>: Layer must be a torch module that is also a LinearBase (a LinearModule)");

 public:
  TypedDispatcher(std::string name, int priority) : name_(std::move(name)), priority_(priority) {}

  std::string name() const override { return name_; }
  int priority() const override { return priority_; }
  std::optional<Claim> claim(const ModuleRef& module, const DispatchContext&) override {
    auto layer = std::dynamic_pointer_cast<Layer>(module.module);
    if (!layer) return std::nullopt;
    return Claim{std::move(layer)};
  }

 private:
  std::string name_;
  int priority_;
};

}  // namespace oft::sdk
