#pragma once
// Safe-scan verdicts remembered between runs, keyed by the plugin's path, size and modification
// time, so only new or changed plugin files pay for a child process. The file is JSON, written
// atomically; it is dropped when the host's plugin ABI or LibTorch build differs from the one that
// wrote it (an old verdict would not hold for this host). Several `oft` processes may share it (one
// user, several plugin paths): saving merges this process's new verdicts into the file as it is then,
// under an advisory lock (flock on "<file>.lock"), so no process's write drops another's verdicts.
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "oft/plugin/plugin_host.h"

namespace oft::plugin {

// $OFT_PLUGIN_CACHE, else $XDG_CACHE_HOME/oft/plugin-scan.json, else ~/.cache/oft/plugin-scan.json.
std::filesystem::path default_scan_cache_path();

class ScanCache {
 public:
  // A missing file is an empty cache; an unreadable or malformed one is reported and ignored.
  explicit ScanCache(std::filesystem::path file);

  // The remembered verdict if the plugin file still has the size and time it had when scanned.
  std::optional<PluginFileReport> find(const std::filesystem::path& plugin) const;
  void remember(const std::filesystem::path& plugin, const PluginFileReport& verdict);
  // Writes the cache if anything was remembered: the file's current entries with this process's new
  // ones over them. A failure is logged (scanning still worked).
  void save() const;

 private:
  std::filesystem::path file_;
  nlohmann::json entries_ = nlohmann::json::object();     // as read, with the new verdicts
  nlohmann::json remembered_ = nlohmann::json::object();  // the new verdicts alone
};

}  // namespace oft::plugin
