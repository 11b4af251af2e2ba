#include "plugin/plugin_scan_cache.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "oft/io/atomic_file.h"
#include "oft/log.h"
#include "oft/plugin/plugin_report_json.h"
#include "plugin/plugin_descriptor_check.h"

namespace oft::plugin {
namespace {

std::string host_key() {
  return "plugin ABI " + std::to_string(OFT_PLUGIN_ABI_MAJOR) + "." + std::to_string(OFT_PLUGIN_ABI_MINOR) + ", " +
         host_build_summary();
}

// Size and modification time identify a plugin file's content well enough: rebuilding or replacing
// it changes at least one.
std::optional<nlohmann::json> file_stamp(const std::filesystem::path& plugin) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(plugin, ec);
  if (ec) return std::nullopt;
  const auto mtime = std::filesystem::last_write_time(plugin, ec);
  if (ec) return std::nullopt;
  return nlohmann::json{{"size", size}, {"mtime", mtime.time_since_epoch().count()}};
}

// The entries of the cache file; empty when it is missing, was written by another host build, or is
// not what this host writes (then reported, if `report`).
nlohmann::json read_entries(const std::filesystem::path& file, bool report = true) {
  std::ifstream in(file);
  if (!in) return nlohmann::json::object();
  try {
    const auto json = nlohmann::json::parse(in);
    if (json.at("host").get<std::string>() != host_key()) {
      logger()->debug("plugin scan cache {} was written by another host build; starting afresh", file.string());
      return nlohmann::json::object();
    }
    auto entries = json.at("entries");
    if (!entries.is_object()) throw std::invalid_argument("\"entries\" is not an object");
    return entries;
  } catch (const std::exception& e) {
    if (report)
      logger()->warn("ignoring the plugin scan cache {}: it is not what this host writes ({})", file.string(),
                     e.what());
    return nlohmann::json::object();
  }
}

// An exclusive flock on "<file>.lock" for the read-merge-write of save(), released on destruction. Without
// it (no lock file possible) saving still works; only a concurrent save may then drop this one's verdicts.
class SaveLock {
 public:
  explicit SaveLock(const std::filesystem::path& file)
      : fd_(::open((file.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    while (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~SaveLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  SaveLock(const SaveLock&) = delete;
  SaveLock& operator=(const SaveLock&) = delete;

 private:
  int fd_;
};

}  // namespace

std::filesystem::path default_scan_cache_path() {
  if (const char* explicit_path = std::getenv("OFT_PLUGIN_CACHE"); explicit_path && *explicit_path)
    return explicit_path;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "oft" / "plugin-scan.json";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "oft" / "plugin-scan.json";
  return std::filesystem::temp_directory_path() / "oft-plugin-scan.json";
}

ScanCache::ScanCache(std::filesystem::path file) : file_(std::move(file)), entries_(read_entries(file_)) {}

std::optional<PluginFileReport> ScanCache::find(const std::filesystem::path& plugin) const {
  const auto it = entries_.find(plugin.string());
  const auto stamp = file_stamp(plugin);
  if (it == entries_.end() || !stamp || it->value("stamp", nlohmann::json()) != *stamp) return std::nullopt;
  try {
    return file_report_from_json(it->at("verdict"));
  } catch (const std::exception& e) {
    logger()->debug("plugin scan cache entry for {} is unusable: {}", plugin.string(), e.what());
    return std::nullopt;
  }
}

void ScanCache::remember(const std::filesystem::path& plugin, const PluginFileReport& verdict) {
  const auto stamp = file_stamp(plugin);
  if (!stamp) return;
  const nlohmann::json entry = {{"stamp", *stamp}, {"verdict", to_json(verdict)}};
  entries_[plugin.string()] = entry;
  remembered_[plugin.string()] = entry;
}

void ScanCache::save() const {
  if (remembered_.empty()) return;
  try {
    if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path());
    // Other processes may have saved since this one read the file: merge into what is there now.
    const SaveLock lock(file_);
    nlohmann::json entries = read_entries(file_, /*report=*/false);  // reported when read at the start
    entries.update(remembered_);
    const nlohmann::json json = {{"host", host_key()}, {"entries", entries}};
    write_atomically(file_, [&](std::ostream& out) { out << json.dump(2) << '\n'; });
  } catch (const std::exception& e) {
    logger()->warn("cannot save the plugin scan cache {}: {} (plugins will be scanned again next time)", file_.string(),
                   e.what());
  }
}

}  // namespace oft::plugin
