#pragma once
// Finding plugin files: the folders to search, in order, and the liboft_backend_*.so files in them.
#include <filesystem>
#include <string>
#include <vector>

#include "oft/plugin/plugin_host.h"

namespace oft::plugin {

struct SearchEntry {
  std::filesystem::path path;  // a folder, or (from plugins.paths) a single plugin file
  std::string origin;
};

struct Candidate {
  std::filesystem::path file;
  std::string origin;
  std::string name;  // <name> of liboft_backend_<name>.so
};

struct Discovery {
  std::vector<PluginFolderReport> folders;
  std::vector<Candidate> files;
};

// OFT_PLUGIN_PATH, then settings.paths, then the build/install plugin folder.
std::vector<SearchEntry> search_entries(const PluginHostOptions& options);

// Lists the plugin files of each entry (not recursive; sorted by name within a folder so the result
// does not depend on the file system). A folder that exists but cannot be read is reported; absent
// folders are skipped quietly.
Discovery discover(const std::vector<SearchEntry>& entries);

// "awq" for ".../liboft_backend_awq.so"; empty if the file name does not have that form.
std::string plugin_name_from_file(const std::filesystem::path& file);

// The folder holding liboft_core.so, found from this code's own address.
std::filesystem::path core_library_folder();

}  // namespace oft::plugin
