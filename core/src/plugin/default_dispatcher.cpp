#include "plugin/default_dispatcher.h"

#include "nn/module_types.h"

namespace oft {

std::optional<HostClaim> DefaultDispatcher::claim(const sdk::ModuleRef& module, const sdk::DispatchContext&) {
  auto type = module_type_of(module.module);
  if (!type) return std::nullopt;
  return type->dense_base;
}

}  // namespace oft
