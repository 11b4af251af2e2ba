// `oft plugins [--json] [--config FILE] [--no-safe-scan]`: where the host looks for plugins, every
// plugin file it found with its status (loaded, rejected and why, disabled), each plugin's version,
// the dispatchers in the order they are asked ("default" last) and the quantized-linear formats with
// their quantize methods.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "host.h"
#include "oft/plugin/plugin_host.h"
#include "oft/plugin/plugin_report_json.h"

namespace oft::app {
namespace {

struct PluginsOptions {
  bool json = false;
  std::string config;
  bool no_safe_scan = false;
};

void print_plugins_text(const PluginHostResult& result) {
  std::printf("Plugin search path:\n");
  for (const auto& f : result.folders)
    std::printf("  %s (%s)%s\n", f.folder.c_str(), f.origin.c_str(),
                f.problem.empty() ? "" : ("  ! " + f.problem).c_str());
  std::printf("Plugin files:\n");
  if (result.files.empty()) std::printf("  (none)\n");
  for (const auto& p : result.files) {
    std::printf("  %-8s  %-20s %-10s %s\n", to_string(p.status).c_str(), p.name.c_str(),
                p.version.empty() ? "-" : p.version.c_str(), p.file.c_str());
    if (!p.reason.empty()) std::printf("            %s\n", p.reason.c_str());
  }
  std::printf("Dispatchers, in the order they are asked:\n");
  for (size_t i = 0; i < result.dispatchers.size(); ++i) {
    const auto& d = result.dispatchers[i];
    std::printf("  %zu. %-20s priority %4d  %s\n", i + 1, d.name.c_str(), d.priority, d.origin.c_str());
  }
  std::printf("Quantized-linear formats (loaders and quantizers) and their `oft quantize` methods:\n");
  if (result.format_summaries.empty()) std::printf("  (none)\n");
  for (const auto& f : result.format_summaries) {
    std::printf("  %-20s %s\n", f.name.c_str(), f.origin.c_str());
    for (const auto& m : f.methods)
      std::printf("    --method %-18s %s%s\n", m.name.c_str(), m.description.c_str(),
                  m.needs_calibration ? " (needs --calibration)" : "");
  }
}

int run_plugins(Host& host, const PluginsOptions& o) {
  if (!o.config.empty()) host.configure(o.config);
  if (o.no_safe_scan) host.disable_safe_scan();
  const PluginHostResult& result = host.plugins();
  if (o.json)
    std::cout << to_json(result).dump(2) << std::endl;
  else
    print_plugins_text(result);
  return 0;
}

}  // namespace

void add_plugins_command(CLI::App& app, Host& host) {
  auto options = std::make_shared<PluginsOptions>();
  auto* cmd = app.add_subcommand("plugins", "List the plugin search path, the plugin files found and the dispatchers");
  cmd->add_flag("--json", options->json, "print JSON for machines");
  cmd->add_option("--config", options->config, "host config JSON (as --host-config)")->check(CLI::ExistingFile);
  cmd->add_flag("--no-safe-scan", options->no_safe_scan, "load plugins without vetting them in a child process first");
  cmd->callback([options, &host] {
    if (const int rc = run_plugins(host, *options); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace oft::app
