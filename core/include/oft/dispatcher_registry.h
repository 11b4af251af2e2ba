#pragma once
// The priority-ordered set of dispatchers the host asks when it adapts a module. Thread-safe.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oft/sdk/dispatcher.h"

namespace oft {

struct DispatcherInfo {
  std::string name;
  int priority = 0;
  std::string origin;  // as given to add(); empty for the host's own
};

struct DispatchResult {
  sdk::Claim claim;
  std::string dispatcher;  // name of the dispatcher that claimed the module
};

class DispatcherRegistry {
 public:
  // A registry holding only the built-in default dispatcher (dense Linear, Conv1D, Conv2d, Embedding).
  static std::shared_ptr<DispatcherRegistry> with_default();

  // `owner` is kept alive as long as the registry or any claim made by this dispatcher is: plugins
  // pass their library handle so nothing is unloaded under a live object. `origin` says where the
  // dispatcher comes from in messages (e.g. "plugin 'awq' (/path/liboft_backend_awq.so)"). Equal
  // priorities are ordered by name with a warning; a second dispatcher with the same name is an error.
  void add(std::shared_ptr<sdk::Dispatcher> dispatcher, std::shared_ptr<const void> owner = nullptr,
           std::string origin = "");

  // Names in the order they are asked.
  std::vector<std::string> order() const;
  // Name, priority and origin of each dispatcher, in the order they are asked.
  std::vector<DispatcherInfo> describe() const;

  // Asks each dispatcher in order; the first claim wins. A dispatcher that throws is reported (its
  // name, the module) and skipped. No claim: UsageError naming the module, its type and the
  // dispatchers asked.
  DispatchResult dispatch(const sdk::ModuleRef& module, const sdk::DispatchContext& context) const;

 private:
  struct Entry {
    std::shared_ptr<const void> owner;  // declared first so it is released last, after the dispatcher
    std::shared_ptr<sdk::Dispatcher> dispatcher;
    std::string origin;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;  // sorted by (priority, name)
};

}  // namespace oft
