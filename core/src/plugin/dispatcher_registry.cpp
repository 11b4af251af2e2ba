#include "oft/plugin/dispatcher_registry.h"

#include <algorithm>

#include "oft/adapter/oft_linear.h"
#include "oft/errors.h"
#include "oft/log.h"
#include "plugin/default_dispatcher.h"

namespace oft {
namespace {

// A backend's dispatcher as the host asks it: its claim becomes an OFT Linear on the returned base.
class BackendDispatcher final : public HostDispatcher {
 public:
  explicit BackendDispatcher(std::shared_ptr<sdk::Dispatcher> dispatcher) : dispatcher_(std::move(dispatcher)) {}

  std::string name() const override { return dispatcher_->name(); }
  int priority() const override { return dispatcher_->priority(); }
  std::optional<HostClaim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext& context) override {
    auto claim = dispatcher_->claim(module, context);
    if (!claim) return std::nullopt;
    if (!claim->linear)
      throw UsageError("dispatcher '" + name() + "' claimed '" + module.path + "' but returned no layer");
    return HostClaim::on_linear(std::move(claim->linear));
  }

 private:
  std::shared_ptr<sdk::Dispatcher> dispatcher_;
};

std::string dispatcher_registrant(const std::string& origin) {
  return origin.empty() ? std::string("the host's built-in dispatchers") : origin;
}

std::vector<std::shared_ptr<HostDispatcher>> adapted(const std::vector<std::shared_ptr<sdk::Dispatcher>>& dispatchers) {
  std::vector<std::shared_ptr<HostDispatcher>> out;
  for (const auto& d : dispatchers) {
    if (!d) throw UsageError("cannot register a null dispatcher");
    out.push_back(std::make_shared<BackendDispatcher>(d));
  }
  return out;
}

}  // namespace

HostClaim HostClaim::on_linear(std::shared_ptr<sdk::LinearBase> linear) {
  return {linear, [linear] { return std::make_shared<OFTLinearImpl>(linear); }};
}

std::shared_ptr<DispatcherRegistry> DispatcherRegistry::with_default() {
  auto registry = std::make_shared<DispatcherRegistry>();
  registry->add(std::make_shared<DefaultDispatcher>());
  return registry;
}

void DispatcherRegistry::check(const std::vector<std::shared_ptr<sdk::Dispatcher>>& dispatchers,
                               const std::string& origin) const {
  (void)checked(adapted(dispatchers), origin);
}

std::vector<std::string> DispatcherRegistry::add(const std::vector<std::shared_ptr<sdk::Dispatcher>>& dispatchers,
                                                 const std::string& origin) {
  std::vector<Entry> entries = checked(adapted(dispatchers), origin);
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.name);
  insert(std::move(entries));
  return names;
}

void DispatcherRegistry::add(std::shared_ptr<HostDispatcher> dispatcher) {
  if (!dispatcher) throw UsageError("cannot register a null dispatcher");
  insert(checked({std::move(dispatcher)}, ""));
}

std::vector<DispatcherRegistry::Entry> DispatcherRegistry::checked(
    const std::vector<std::shared_ptr<HostDispatcher>>& dispatchers, const std::string& origin) const {
  const std::string from = origin.empty() ? "" : " from " + origin;
  std::vector<Entry> entries;
  for (const auto& d : dispatchers) {
    Entry entry{d, "", 0, origin};
    try {
      entry.name = d->name();
      entry.priority = d->priority();
    } catch (const std::exception& e) {
      throw UsageError("a dispatcher" + from + " threw when asked its name() or priority(): " + e.what());
    }
    if (entry.name.empty()) throw UsageError("a dispatcher" + from + " has an empty name");
    for (const auto& taken : entries_)
      if (taken.name == entry.name)
        throw UsageError("a dispatcher named '" + entry.name + "' is already registered by " +
                         dispatcher_registrant(taken.origin));
    for (const auto& given : entries)
      if (given.name == entry.name) throw UsageError("dispatcher '" + entry.name + "'" + from + " is given twice");
    entries.push_back(std::move(entry));
  }
  return entries;
}

void DispatcherRegistry::insert(std::vector<Entry> entries) {
  for (auto& entry : entries) {
    for (const auto& e : entries_)
      if (e.priority == entry.priority)
        logger()->warn("dispatchers '{}' and '{}' share priority {}; they are asked in name order", e.name, entry.name,
                       entry.priority);
    entries_.push_back(std::move(entry));
  }
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.name < b.name;
  });
}

std::vector<std::string> DispatcherRegistry::order() const {
  std::vector<std::string> names;
  for (const auto& e : entries_) names.push_back(e.name);
  return names;
}

std::vector<DispatcherInfo> DispatcherRegistry::describe() const {
  std::vector<DispatcherInfo> infos;
  for (const auto& e : entries_) infos.push_back({e.name, e.priority, e.origin});
  return infos;
}

DispatchResult DispatcherRegistry::dispatch(const sdk::ModuleRef& module, const sdk::DispatchContext& context) const {
  std::string asked;
  for (const auto& e : entries_) {
    const std::string& name = e.name;
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
