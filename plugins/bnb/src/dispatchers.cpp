#include "dispatchers.h"

#include "linear4bit.h"
#include "linear8bit.h"

namespace oft::bnb {
namespace {

template <typename Layer>
std::optional<sdk::Claim> claim_as(const sdk::ModuleRef& module) {
  auto layer = std::dynamic_pointer_cast<Layer>(module.module);
  if (!layer) return std::nullopt;
  return sdk::Claim{sdk::Claim::Kind::Linear, std::move(layer)};
}

}  // namespace

std::string Int8Dispatcher::name() const { return kFormat8bit; }
std::optional<sdk::Claim> Int8Dispatcher::claim(const sdk::ModuleRef& module, const sdk::DispatchContext&) {
  return claim_as<Linear8bitLt>(module);
}

std::string FourBitDispatcher::name() const { return kFormat4bit; }
std::optional<sdk::Claim> FourBitDispatcher::claim(const sdk::ModuleRef& module, const sdk::DispatchContext&) {
  return claim_as<Linear4bit>(module);
}

}  // namespace oft::bnb
