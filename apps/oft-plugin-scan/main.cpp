// oft-plugin-scan FILE: the safe-scan child. Loads one plugin file in this process, checks it as
// the host would, and prints the verdict as one JSON line on stdout (exit 0 loaded, 1 rejected).
// If the plugin crashes while loading, only this process dies; the host reports the signal.
#include <cstdio>
#include <iostream>

#include "oft/log.h"
#include "oft/plugin/plugin_host.h"
#include "oft/plugin/plugin_report_json.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr,
                 "usage: oft-plugin-scan FILE   (FILE: a liboft_backend_<name>.so; prints its verdict as JSON)\n");
    return 2;
  }
  oft::logger()->set_level(spdlog::level::warn);
  const oft::PluginFileReport report = oft::vet_plugin_file(argv[1]);
  std::cout << oft::to_json(report).dump() << std::endl;
  return report.status == oft::PluginStatus::Loaded ? 0 : 1;
}
