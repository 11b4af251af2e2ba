#include "plugin/plugin_discovery.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <system_error>

#include <dlfcn.h>

#include "oft/log.h"

namespace oft::plugin {
namespace {

constexpr std::string_view kPrefix = "liboft_backend_";
constexpr std::string_view kSuffix = ".so";

void list_folder(const SearchEntry& entry, Discovery& out) {
  std::error_code ec;
  const bool is_folder = std::filesystem::is_directory(entry.path, ec);
  if (!is_folder) {
    if (std::filesystem::exists(entry.path, ec)) {
      if (plugin_name_from_file(entry.path).empty()) {
        out.folders.push_back({entry.path, entry.origin, "not a folder nor a file named liboft_backend_<name>.so"});
        logger()->warn("plugin path {} ({}) is not a folder nor a file named liboft_backend_<name>.so",
                       entry.path.string(), entry.origin);
      } else {
        out.files.push_back({entry.path, entry.origin, plugin_name_from_file(entry.path)});
      }
    } else {
      out.folders.push_back({entry.path, entry.origin, ""});
      logger()->debug("plugin folder {} ({}) does not exist", entry.path.string(), entry.origin);
    }
    return;
  }
  std::vector<Candidate> found;
  std::filesystem::directory_iterator it(entry.path, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = plugin_name_from_file(it->path());
    if (!name.empty()) found.push_back({it->path(), entry.origin, name});
  }
  if (ec) {
    const std::string problem = "cannot read folder: " + ec.message();
    out.folders.push_back({entry.path, entry.origin, problem});
    logger()->warn("plugin folder {} ({}): {}; going on without it", entry.path.string(), entry.origin, problem);
    return;
  }
  std::sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) { return a.file < b.file; });
  out.folders.push_back({entry.path, entry.origin, ""});
  out.files.insert(out.files.end(), found.begin(), found.end());
}

}  // namespace

std::string plugin_name_from_file(const std::filesystem::path& file) {
  const std::string base = file.filename().string();
  if (base.size() <= kPrefix.size() + kSuffix.size() || !base.starts_with(kPrefix) || !base.ends_with(kSuffix))
    return "";
  return base.substr(kPrefix.size(), base.size() - kPrefix.size() - kSuffix.size());
}

std::filesystem::path core_library_folder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&core_library_folder), &info) == 0 || info.dli_fname == nullptr) return {};
  std::error_code ec;
  const auto resolved = std::filesystem::canonical(info.dli_fname, ec);
  return (ec ? std::filesystem::path(info.dli_fname) : resolved).parent_path();
}

std::vector<SearchEntry> search_entries(const PluginHostOptions& options) {
  std::vector<SearchEntry> entries;
  if (options.use_environment) {
    if (const char* env = std::getenv("OFT_PLUGIN_PATH")) {
      std::stringstream list(env);
      for (std::string part; std::getline(list, part, ':');)
        if (!part.empty()) entries.push_back({part, "OFT_PLUGIN_PATH"});
    }
  }
  for (const auto& path : options.settings.paths) entries.push_back({path, "plugins.paths"});
  if (options.use_install_folder) {
    const auto core_folder = core_library_folder();
    if (!core_folder.empty()) entries.push_back({core_folder / "oft" / "plugins", "install folder"});
  }
  return entries;
}

Discovery discover(const std::vector<SearchEntry>& entries) {
  Discovery out;
  for (const auto& entry : entries) list_folder(entry, out);
  return out;
}

}  // namespace oft::plugin
