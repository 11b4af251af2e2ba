#pragma once
// Safe scanning: loading a plugin file in a child process (the oft-plugin-scan program) so that a
// plugin that crashes or hangs while loading is rejected instead of taking the host down, as
// GStreamer's plugin scanner does.
#include <chrono>
#include <filesystem>
#include <vector>

#include "oft/plugin/plugin_host.h"

namespace oft::plugin {

// options.scanner, else $OFT_PLUGIN_SCANNER, else <folder of liboft_core>/../bin/oft-plugin-scan.
std::filesystem::path find_scanner(const PluginHostOptions& options);

struct ScanResult {
  PluginFileReport report;  // what the child printed, or a rejection saying how it died
  bool conclusive = true;   // false when the scanner could not run or timed out: not worth caching
};

// Runs `scanner FILE` for each file, at most `jobs` children at a time (the scans mostly wait on
// LibTorch being loaded, so a start with many new plugins uses all cores), and returns the verdicts
// in the order of `files`. Never throws for what a plugin does.
std::vector<ScanResult> scan_in_children(const std::filesystem::path& scanner,
                                         const std::vector<std::filesystem::path>& files, unsigned jobs,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace oft::plugin
