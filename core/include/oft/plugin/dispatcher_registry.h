#pragma once
// The priority-ordered set of dispatchers the host asks when it adapts a module. It is filled at
// start-up (with_default, load_plugins) and only read afterwards: add() must not run alongside
// anything else, while order(), describe() and dispatch() may be called from several threads at once.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "oft/export.h"
#include "oft/sdk/dispatcher.h"

namespace oft {

class OFTLayer;

// What the host makes of a claim: the OFT layer to put on the module, and the LinearBase it sits on
// (a backend's claim always has one; the host's Conv2d and Embedding bases have none).
struct OFT_CORE_API HostClaim {
  std::shared_ptr<sdk::LinearBase> linear;
  std::function<std::shared_ptr<OFTLayer>()> make_oft_layer;

  // An OFT Linear on `linear` (what every backend's claim becomes).
  static HostClaim on_linear(std::shared_ptr<sdk::LinearBase> linear);
};

// A dispatcher of the host itself. Unlike a backend's sdk::Dispatcher its claim may put any of OFT's
// layers on the module, not only an OFT Linear.
class OFT_CORE_API HostDispatcher {
 public:
  virtual ~HostDispatcher() = default;
  virtual std::string name() const = 0;
  virtual int priority() const = 0;
  virtual std::optional<HostClaim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext& context) = 0;
};

struct DispatcherInfo {
  std::string name;
  int priority = 0;
  std::string origin;  // as given to add(); empty for the host's own
};

struct DispatchResult {
  HostClaim claim;
  std::string dispatcher;  // name of the dispatcher that claimed the module
};

class OFT_CORE_API DispatcherRegistry {
 public:
  // A registry holding only the built-in default dispatcher (dense Linear, Conv1D, Conv2d, Embedding).
  static std::shared_ptr<DispatcherRegistry> with_default();

  // Throws UsageError unless every one of `dispatchers` answers name() and priority(), has a
  // non-empty name, and no two of them or of those registered share a name. `origin` says where they
  // come from in messages (e.g. "plugin 'awq' (/path/liboft_backend_awq.so)"). Adds nothing.
  void check(const std::vector<std::shared_ptr<sdk::Dispatcher>>& dispatchers, const std::string& origin = "") const;
  // Adds all of `dispatchers` after the same check, or none; returns their names. Equal priorities are
  // ordered by name with a warning.
  std::vector<std::string> add(const std::vector<std::shared_ptr<sdk::Dispatcher>>& dispatchers,
                               const std::string& origin = "");
  // One of the host's own dispatchers (same check and ordering).
  void add(std::shared_ptr<HostDispatcher> dispatcher);

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
    std::shared_ptr<HostDispatcher> dispatcher;  // a backend's is adapted (dispatcher_registry.cpp)
    std::string name;                            // name() and priority(), asked once
    int priority = 0;
    std::string origin;
  };
  // Asks each dispatcher its name and priority and runs check()'s rules on the answers.
  std::vector<Entry> checked(const std::vector<std::shared_ptr<HostDispatcher>>& dispatchers,
                             const std::string& origin) const;
  void insert(std::vector<Entry> entries);
  std::vector<Entry> entries_;  // sorted by (priority, name)
};

}  // namespace oft
