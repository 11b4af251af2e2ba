// load_plugins: discovery → disable / duplicate checks → safe scan → in-process load → registry.
#include "oft/plugin/plugin_host.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "oft/errors.h"
#include "oft/log.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "oft/sdk/linear_format.h"
#include "plugin/plugin_discovery.h"
#include "plugin/plugin_library.h"
#include "plugin/plugin_scan.h"
#include "plugin/plugin_scan_cache.h"

namespace oft {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Adds all of a plugin's dispatchers and formats, or none when the registries refuse any of them.
void register_plugin(DispatcherRegistry& dispatchers, FormatRegistry& formats, const plugin::OpenedPlugin& opened,
                     PluginFileReport& report) {
  const std::string origin = "plugin '" + opened.name + "' (" + report.file.string() + ")";
  try {  // both checks before either add: a plugin is added whole or not at all
    dispatchers.check(opened.dispatchers, origin);
    formats.check(opened.formats, origin);
    report.dispatchers = dispatchers.add(opened.dispatchers, origin);
    report.formats = formats.add(opened.formats, origin);
  } catch (const UsageError& e) {
    throw plugin::Rejection(e.what());
  }
  if (report.dispatchers.empty() && report.formats.empty())
    logger()->warn("plugin '{}' ({}) registered no dispatchers and no formats", opened.name, report.file.string());
}

PluginFileReport load_in_process(DispatcherRegistry& dispatchers, FormatRegistry& formats, PluginFileReport report,
                                 const std::string& config_json) {
  try {
    const plugin::OpenedPlugin opened = plugin::open_plugin(report.file, report.name, config_json);
    report.version = opened.version;
    register_plugin(dispatchers, formats, opened, report);
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
    case PluginStatus::Disabled: logger()->info("skipped plugin {}: {}", r.file.string(), r.reason); break;
    case PluginStatus::Rejected: logger()->warn("rejected plugin {}: {}", r.file.string(), r.reason); break;
  }
}

// "<file>: <reason>" of every file of the plugin `name`, "; "-separated ("" when no file has that name).
std::string file_reasons(const PluginHostResult& result, const std::string& name) {
  std::string reasons;
  for (const auto& r : result.files)
    if (r.name == name) reasons += (reasons.empty() ? "" : "; ") + r.file.string() + ": " + r.reason;
  return reasons;
}

void enforce_required(const PluginHostOptions& options, const PluginHostResult& result) {
  std::string problems;
  for (const auto& name : options.settings.require) {
    const auto& files = result.files;
    if (std::any_of(files.begin(), files.end(),
                    [&](const PluginFileReport& r) { return r.name == name && r.status == PluginStatus::Loaded; }))
      continue;
    std::string why = file_reasons(result, name);
    if (why.empty()) {
      std::string searched;
      for (const auto& f : result.folders) searched += (searched.empty() ? "" : ", ") + f.folder.string();
      why = "no liboft_backend_" + name + ".so in the plugin search path (" + (searched.empty() ? "empty" : searched) +
            ")";
    }
    problems += (problems.empty() ? "" : "; ") + ("required plugin '" + name + "' is not loaded: " + why);
  }
  if (!problems.empty()) throw PluginError(problems + " (plugins.require)");
}

// The keys of plugins.config are plugin names, and a section is settings the user wants in force: one that reaches
// no plugin (a typo, a plugin that is not installed, or one that failed to load, e.g. refusing the section's own
// keys) is an error rather than settings silently dropped. A disabled plugin's section is fine: it is only off.
void check_config_reaches_its_plugin(const PluginHostOptions& options, const PluginHostResult& result) {
  std::set<std::string> found;
  for (const auto& r : result.files)
    if (!r.name.empty()) found.insert(r.name);
  for (const auto& [name, section] : options.settings.config) {
    if (!found.count(name)) {
      std::string names;
      for (const auto& f : found) names += (names.empty() ? "" : ", ") + f;
      throw ConfigError("unknown key plugins.config." + name + " in the host config: no plugin named '" + name +
                        "' was found (expected one of the plugins found: " + (names.empty() ? "none" : names) + ")");
    }
    const auto loaded_or_off = [&](const PluginFileReport& r) {
      return r.name == name && r.status != PluginStatus::Rejected;
    };
    if (std::any_of(result.files.begin(), result.files.end(), loaded_or_off)) continue;
    throw ConfigError("plugins.config." + name + " in the host config reaches no plugin: '" + name +
                      "' was rejected (" + file_reasons(result, name) + ")");
  }
}

}  // namespace

PluginHostResult load_plugins(const PluginHostOptions& options) {
  PluginHostResult result;
  result.registry = DispatcherRegistry::with_default();
  result.formats = std::make_shared<FormatRegistry>();
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
      report = load_in_process(*result.registry, *result.formats, std::move(report),
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
  check_config_reaches_its_plugin(options, result);
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
  return load_in_process(*registry, formats, std::move(report), "{}");
}

}  // namespace oft
