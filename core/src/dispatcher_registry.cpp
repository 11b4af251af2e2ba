#include "oft/dispatcher_registry.h"

#include <algorithm>

#include "oft/default_dispatcher.h"
#include "oft/errors.h"
#include "oft/layers/linear.h"
#include "oft/log.h"

namespace oft {
namespace {

// A layer made by a plugin must not outlive the plugin's library: the returned pointer shares
// ownership of both, and the layer is destroyed first (members go in reverse order).
struct LayerWithOwner {
  std::shared_ptr<const void> owner;
  std::shared_ptr<sdk::LinearBase> layer;
};

std::shared_ptr<sdk::LinearBase> keep_owner_alive(std::shared_ptr<sdk::LinearBase> layer,
                                                  std::shared_ptr<const void> owner) {
  auto both = std::make_shared<LayerWithOwner>(LayerWithOwner{std::move(owner), std::move(layer)});
  return std::shared_ptr<sdk::LinearBase>(both, both->layer.get());
}

// A backend's dispatcher as the host asks it: its claim becomes an OFT Linear on the returned base.
class BackendDispatcher final : public HostDispatcher {
 public:
  BackendDispatcher(std::shared_ptr<sdk::Dispatcher> dispatcher, std::shared_ptr<const void> owner)
      : owner_(std::move(owner)), dispatcher_(std::move(dispatcher)) {}

  std::string name() const override { return dispatcher_->name(); }
  int priority() const override { return dispatcher_->priority(); }
  std::optional<HostClaim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext& context) override {
    auto claim = dispatcher_->claim(module, context);
    if (!claim) return std::nullopt;
    if (!claim->linear)
      throw UsageError("dispatcher '" + name() + "' claimed '" + module.path + "' but returned no layer");
    return HostClaim::on_linear(owner_ ? keep_owner_alive(std::move(claim->linear), owner_) : std::move(claim->linear));
  }

 private:
  std::shared_ptr<const void> owner_;  // declared first so it is released last, after the dispatcher
  std::shared_ptr<sdk::Dispatcher> dispatcher_;
};

}  // namespace

HostClaim HostClaim::on_linear(std::shared_ptr<sdk::LinearBase> linear) {
  return {linear, [linear] { return std::make_shared<OFTLinearImpl>(linear); }};
}

std::shared_ptr<DispatcherRegistry> DispatcherRegistry::with_default() {
  auto registry = std::make_shared<DispatcherRegistry>();
  registry->add(std::make_shared<DefaultDispatcher>());
  return registry;
}

void DispatcherRegistry::add(std::shared_ptr<sdk::Dispatcher> dispatcher, std::shared_ptr<const void> owner,
                             std::string origin) {
  if (!dispatcher) throw UsageError("cannot register a null dispatcher");
  insert({std::make_shared<BackendDispatcher>(std::move(dispatcher), std::move(owner)), std::move(origin)});
}

void DispatcherRegistry::add(std::shared_ptr<HostDispatcher> dispatcher) {
  if (!dispatcher) throw UsageError("cannot register a null dispatcher");
  insert({std::move(dispatcher), ""});
}

void DispatcherRegistry::insert(Entry entry) {
  const std::string name = entry.dispatcher->name();
  const int priority = entry.dispatcher->priority();
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_) {
    if (e.dispatcher->name() == name) throw UsageError("a dispatcher named '" + name + "' is already registered");
    if (e.dispatcher->priority() == priority)
      logger()->warn("dispatchers '{}' and '{}' share priority {}; they are asked in name order", e.dispatcher->name(),
                     name, priority);
  }
  entries_.push_back(std::move(entry));
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    const int pa = a.dispatcher->priority(), pb = b.dispatcher->priority();
    return pa != pb ? pa < pb : a.dispatcher->name() < b.dispatcher->name();
  });
}

std::vector<std::string> DispatcherRegistry::order() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& e : entries_) names.push_back(e.dispatcher->name());
  return names;
}

std::vector<DispatcherInfo> DispatcherRegistry::describe() const {
  std::lock_guard lock(mutex_);
  std::vector<DispatcherInfo> infos;
  for (const auto& e : entries_) infos.push_back({e.dispatcher->name(), e.dispatcher->priority(), e.origin});
  return infos;
}

DispatchResult DispatcherRegistry::dispatch(const sdk::ModuleRef& module, const sdk::DispatchContext& context) const {
  std::vector<Entry> entries;
  {
    std::lock_guard lock(mutex_);
    entries = entries_;
  }
  std::string asked;
  for (const auto& e : entries) {
    const std::string name = e.dispatcher->name();
    asked += (asked.empty() ? "" : ", ") + name;
    try {
      if (auto claim = e.dispatcher->claim(module, context)) return {std::move(*claim), name};
    } catch (const UsageError&) {
      throw;
    } catch (const std::exception& ex) {
      logger()->error("dispatcher '{}'{} failed while claiming '{}': {}", name,
                      e.origin.empty() ? "" : " from " + e.origin, module.path, ex.what());
    } catch (...) {
      logger()->error("dispatcher '{}'{} failed while claiming '{}': an exception not derived from std::exception",
                      name, e.origin.empty() ? "" : " from " + e.origin, module.path);
    }
  }
  throw UsageError("no dispatcher claims module '" + module.path + "' of type " + module.module->name() +
                   " (asked: " + asked + ")");
}

}  // namespace oft
