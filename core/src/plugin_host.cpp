// load_plugins: discovery → disable / duplicate checks → safe scan → in-process load → registry.
#include "oft/plugin_host.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "oft/dispatcher_registry.h"
#include "oft/errors.h"
#include "oft/format_registry.h"
#include "oft/sdk/linear_format.h"
#include "oft/log.h"
#include "plugin_discovery.h"
#include "plugin_library.h"
#include "plugin_scan.h"
#include "plugin_scan_cache.h"

namespace oft {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Where loaded plugins put their dispatchers and formats, and which plugin (or the host) registered
// each name, for clash messages.
struct Registries {
  DispatcherRegistry& dispatchers;
  FormatRegistry& formats;
  std::map<std::string, std::string> dispatcher_owners;
  std::map<std::string, std::string> format_owners;
  std::map<std::string, std::string> method_owners;  // quantize methods, by name

  Registries(DispatcherRegistry& d, FormatRegistry& f) : dispatchers(d), formats(f) {
    for (const auto& name : d.order()) dispatcher_owners[name] = "the host's built-in dispatchers";
  }
};

// The names of a plugin's dispatchers or formats (`kind`); Rejection if asking for one throws, or
// one is empty, already taken (`owners`), or given twice.
template <class Item, class NameOf>
std::vector<std::string> checked_names(const std::vector<std::shared_ptr<Item>>& items,
                                       const std::map<std::string, std::string>& owners, const std::string& kind,
                                       const std::string& accessors, NameOf name_of) {
  std::vector<std::string> names;
  for (const auto& item : items) {
    std::string name;
    try {
      name = name_of(*item);
    } catch (const std::exception& e) {
      throw plugin::Rejection("a " + kind + "'s " + accessors + " threw: " + e.what());
    }
    if (name.empty()) throw plugin::Rejection("registered a " + kind + " with an empty name");
    if (const auto it = owners.find(name); it != owners.end())
      throw plugin::Rejection("registers " + kind + " '" + name + "', a name already taken by " + it->second);
    if (contains(names, name)) throw plugin::Rejection("registers " + kind + " '" + name + "' twice");
    names.push_back(name);
  }
  return names;
}

// The quantize methods of a plugin's formats; Rejection if asking for them throws or one is malformed.
std::vector<std::shared_ptr<sdk::QuantizeMethod>> methods_of(const std::vector<std::shared_ptr<sdk::LinearFormat>>& formats) {
  std::vector<std::shared_ptr<sdk::QuantizeMethod>> methods;
  for (const auto& format : formats) {
    try {
      for (auto& m : FormatRegistry::checked_methods(*format))
        methods.push_back(std::make_shared<sdk::QuantizeMethod>(std::move(m)));
    } catch (const std::exception& e) {
      throw plugin::Rejection("a format's quantize methods are unusable: " + std::string(e.what()));
    }
  }
  return methods;
}

struct RegisteredNames {
  std::vector<std::string> dispatchers;
  std::vector<std::string> formats;
};

// Adds all of a plugin's dispatchers and formats, or none if any is unusable (unnamed, name taken, throws).
RegisteredNames register_plugin(Registries& registries, const plugin::OpenedPlugin& opened,
                                const std::filesystem::path& file) {
  const std::string origin = "plugin '" + opened.name + "' (" + file.string() + ")";
  const std::vector<std::string> names =
      checked_names(opened.dispatchers, registries.dispatcher_owners, "dispatcher", "name() or priority()",
                    [](sdk::Dispatcher& d) {
                      std::string name = d.name();
                      (void)d.priority();
                      return name;
                    });
  const std::vector<std::string> format_names = checked_names(
      opened.formats, registries.format_owners, "format", "name()", [](sdk::LinearFormat& f) { return f.name(); });
  const std::vector<std::string> method_names =
      checked_names(methods_of(opened.formats), registries.method_owners, "quantize method", "name",
                    [](const sdk::QuantizeMethod& m) { return m.name; });
  for (const auto& dispatcher : opened.dispatchers) registries.dispatchers.add(dispatcher, opened.library, origin);
  for (const auto& format : opened.formats) registries.formats.add(format, opened.library, origin);
  for (const auto& name : names) registries.dispatcher_owners[name] = origin;
  for (const auto& name : format_names) registries.format_owners[name] = origin;
  for (const auto& name : method_names) registries.method_owners[name] = origin;
  if (names.empty() && format_names.empty())
    logger()->warn("plugin '{}' ({}) registered no dispatchers and no formats", opened.name, file.string());
  return {names, format_names};
}

PluginFileReport load_in_process(Registries& registries, PluginFileReport report, const std::string& config_json) {
  try {
    const plugin::OpenedPlugin opened = plugin::open_plugin(report.file, report.name, config_json);
    report.version = opened.version;
    RegisteredNames registered = register_plugin(registries, opened, report.file);
    report.dispatchers = std::move(registered.dispatchers);
    report.formats = std::move(registered.formats);
    report.status = PluginStatus::Loaded;
    report.reason.clear();
  } catch (const plugin::Rejection& e) {
    report.status = PluginStatus::Rejected;
    report.reason = e.what();
  }
  return report;
}

// Safe scanning: each file without a remembered verdict is loaded in a child process first (several
// at once); conclusive verdicts are remembered. Returns the verdict for every file, by canonical path.
std::map<std::filesystem::path, PluginFileReport> safe_scan_verdicts(const PluginHostOptions& options,
                                                                     const std::vector<std::filesystem::path>& files) {
  plugin::ScanCache cache(options.scan_cache.empty() ? plugin::default_scan_cache_path() : options.scan_cache);
  std::map<std::filesystem::path, PluginFileReport> verdicts;
  std::vector<std::filesystem::path> to_scan;
  for (const auto& file : files) {
    if (auto remembered = cache.find(file)) {
      logger()->debug("plugin {}: safe-scan verdict '{}' remembered from an earlier run", file.string(),
                      to_string(remembered->status));
      verdicts[file] = std::move(*remembered);
    } else {
      to_scan.push_back(file);
    }
  }
  const auto scanned = plugin::scan_in_children(plugin::find_scanner(options), to_scan,
                                                std::max(1u, std::thread::hardware_concurrency()));
  for (size_t i = 0; i < to_scan.size(); ++i) {
    if (scanned[i].conclusive) cache.remember(to_scan[i], scanned[i].report);
    verdicts[to_scan[i]] = scanned[i].report;
  }
  cache.save();
  return verdicts;
}

void log_report(const PluginFileReport& r) {
  switch (r.status) {
    case PluginStatus::Loaded:
      logger()->debug("loaded plugin '{}' {} from {}", r.name, r.version, r.file.string());
      break;
    case PluginStatus::Disabled:
      logger()->info("skipped plugin {}: {}", r.file.string(), r.reason);
      break;
    case PluginStatus::Rejected:
      logger()->warn("rejected plugin {}: {}", r.file.string(), r.reason);
      break;
  }
}

void enforce_required(const PluginHostOptions& options, const PluginHostResult& result) {
  std::string problems;
  for (const auto& name : options.settings.require) {
    const auto& files = result.files;
    if (std::any_of(files.begin(), files.end(), [&](const PluginFileReport& r) {
          return r.name == name && r.status == PluginStatus::Loaded;
        }))
      continue;
    std::string why;
    for (const auto& r : files)
      if (r.name == name) why += (why.empty() ? "" : "; ") + r.file.string() + ": " + r.reason;
    if (why.empty()) {
      std::string searched;
      for (const auto& f : result.folders) searched += (searched.empty() ? "" : ", ") + f.folder.string();
      why = "no liboft_backend_" + name + ".so in the plugin search path (" + (searched.empty() ? "empty" : searched) + ")";
    }
    problems += (problems.empty() ? "" : "; ") + ("required plugin '" + name + "' is not loaded: " + why);
  }
  if (!problems.empty()) throw PluginError(problems + " (plugins.require)");
}

}  // namespace

PluginHostResult load_plugins(const PluginHostOptions& options) {
  PluginHostResult result;
  result.registry = DispatcherRegistry::with_default();
  result.formats = std::make_shared<FormatRegistry>();
  Registries registries(*result.registry, *result.formats);
  plugin::Discovery discovery = plugin::discover(plugin::search_entries(options));
  result.folders = std::move(discovery.folders);

  // Each file once, even when two search entries reach it.
  std::vector<std::pair<plugin::Candidate, std::filesystem::path>> files;
  std::set<std::filesystem::path> seen;
  for (const auto& candidate : discovery.files) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(candidate.file, ec);
    if (ec) canonical = candidate.file;
    if (seen.insert(canonical).second) files.emplace_back(candidate, canonical);
  }
  std::map<std::filesystem::path, PluginFileReport> scan_verdicts;
  if (options.safe_scan) {
    std::vector<std::filesystem::path> to_vet;
    for (const auto& [candidate, canonical] : files)
      if (!contains(options.settings.disable, candidate.name)) to_vet.push_back(canonical);
    scan_verdicts = safe_scan_verdicts(options, to_vet);
  }

  std::map<std::string, std::filesystem::path> loaded_from;
  for (const auto& [candidate, canonical] : files) {
    PluginFileReport report;
    report.file = candidate.file;
    report.origin = candidate.origin;
    report.name = candidate.name;
    const auto verdict = scan_verdicts.find(canonical);
    if (contains(options.settings.disable, candidate.name)) {
      report.status = PluginStatus::Disabled;
      report.reason = "disabled by plugins.disable";
    } else if (const auto first = loaded_from.find(candidate.name); first != loaded_from.end()) {
      report.reason = "a plugin named '" + candidate.name + "' is already loaded from " + first->second.string() +
                      " (the first one found wins)";
    } else if (verdict != scan_verdicts.end() && verdict->second.status != PluginStatus::Loaded) {
      report.version = verdict->second.version;  // rejected in the child: never loaded here
      report.reason = verdict->second.reason;
    } else {
      const auto config = options.settings.config.find(candidate.name);
      report = load_in_process(registries, std::move(report),
                               config == options.settings.config.end() ? "{}" : config->second);
      if (report.status == PluginStatus::Loaded) loaded_from[report.name] = report.file;
    }
    log_report(report);
    result.files.push_back(std::move(report));
  }
  for (const auto& info : result.registry->describe())
    result.dispatchers.push_back({info.name, info.priority, info.origin.empty() ? "built in" : info.origin});
  for (const auto& info : result.formats->describe())
    result.format_summaries.push_back({info.name, info.origin, info.methods});
  enforce_required(options, result);
  return result;
}

PluginFileReport vet_plugin_file(const std::filesystem::path& file) {
  PluginFileReport report;
  report.file = file;
  report.name = plugin::plugin_name_from_file(file);
  if (report.name.empty()) {
    report.reason = "the file name is not liboft_backend_<name>.so";
    return report;
  }
  auto registry = DispatcherRegistry::with_default();
  FormatRegistry formats;
  Registries registries(*registry, formats);
  return load_in_process(registries, std::move(report), "{}");
}

}  // namespace oft
