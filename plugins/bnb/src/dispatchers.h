#pragma once
// The dispatchers that put OFT on bitsandbytes layers: each claims its own layer type (PEFT's order:
// 8-bit at 100, 4-bit at 200).
#include "oft/sdk/dispatcher.h"

namespace oft::bnb {

class Int8Dispatcher final : public sdk::Dispatcher {
 public:
  std::string name() const override;
  int priority() const override { return sdk::priority::kBnb8bit; }
  std::optional<sdk::Claim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext& context) override;
};

class FourBitDispatcher final : public sdk::Dispatcher {
 public:
  std::string name() const override;
  int priority() const override { return sdk::priority::kBnb4bit; }
  std::optional<sdk::Claim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext& context) override;
};

}  // namespace oft::bnb
