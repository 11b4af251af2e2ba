#include "oft/io/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "oft/errors.h"

namespace oft {
namespace {

namespace fs = std::filesystem;

// Unique per process and per call, so concurrent writers never share a temporary name.
std::string unique_suffix() {
  static std::atomic<uint64_t> counter{0};
  return std::to_string(::getpid()) + "." + std::to_string(counter++);
}

// "out/" and "out" are the same folder; the temporary name is built from its last component.
fs::path without_trailing_separator(const fs::path& dir) {
  fs::path p = dir.lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p;
}

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// ".<name>.oft-tmp.<pid>.<n>" or ".<name>.oft-old.<pid>.<n>" of a process that no longer runs: left
// by a kill during an earlier write of `dir`.
void remove_stale_siblings(const fs::path& dir) {
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  const std::string name = dir.filename().string();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string sibling = entry.path().filename().string();
    for (const char* kind : {".oft-tmp.", ".oft-old."}) {
      const std::string prefix = "." + name + kind;
      if (sibling.rfind(prefix, 0) != 0) continue;
      const std::string rest = sibling.substr(prefix.size());
      char* end = nullptr;
      const long pid = std::strtol(rest.c_str(), &end, 10);
      if (end == rest.c_str() || *end != '.' || process_alive(pid)) continue;
      std::error_code ignored;
      fs::remove_all(entry.path(), ignored);
    }
  }
}

// Swaps two existing paths atomically; false where the file system does not support it.
bool exchange(const fs::path& a, const fs::path& b) {
  return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0;
}

[[noreturn]] void fail(const fs::path& dir, const std::string& what) {
  throw FormatError("cannot write folder " + dir.string() + ": " + what);
}

}  // namespace

void write_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write) {
  const fs::path tmp = path.string() + ".tmp." + unique_suffix();
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw FormatError("cannot write " + path.string() + ": cannot create " + tmp.string());
      write(out);
      out.flush();
      if (!out) throw FormatError("cannot write " + path.string() + ": write failed (disk full?)");
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec)
      throw FormatError("cannot write " + path.string() + ": rename from " + tmp.string() + " failed: " + ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void write_folder_atomically(const std::filesystem::path& target,
                             const std::function<void(const std::filesystem::path&)>& fill) {
  const fs::path dir = without_trailing_separator(target);
  std::error_code ec;
  const auto status = fs::symlink_status(dir, ec);
  const bool exists = fs::exists(status);
  if (exists && !fs::is_directory(status)) fail(dir, "it exists and is not a folder");
  if (!dir.parent_path().empty()) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) fail(dir, "cannot create its parent folder: " + ec.message());
  }
  remove_stale_siblings(dir);

  const std::string suffix = unique_suffix();
  const fs::path tmp = dir.parent_path() / ("." + dir.filename().string() + ".oft-tmp." + suffix);
  try {
    fs::create_directory(tmp, ec);
    if (ec) fail(dir, "cannot create " + tmp.string() + ": " + ec.message());
    fill(tmp);
    if (!exists) {
      fs::rename(tmp, dir, ec);
      if (ec) fail(dir, "rename from " + tmp.string() + " failed: " + ec.message());
      return;
    }
    // After the exchange `tmp` holds the old folder.
    if (!exchange(tmp, dir)) {
      // No RENAME_EXCHANGE (some file systems): move the old folder aside first; `dir` is absent in between.
      const fs::path old = dir.parent_path() / ("." + dir.filename().string() + ".oft-old." + suffix);
      fs::rename(dir, old, ec);
      if (ec) fail(dir, "cannot move the existing folder aside: " + ec.message());
      fs::rename(tmp, dir, ec);
      if (ec) {
        std::error_code ignored;
        fs::rename(old, dir, ignored);
        fail(dir, "rename from " + tmp.string() + " failed: " + ec.message());
      }
      fs::remove_all(old, ec);
      return;
    }
    fs::remove_all(tmp, ec);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
}

}  // namespace oft
