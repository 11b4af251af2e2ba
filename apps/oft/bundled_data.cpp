#include "bundled_data.h"

namespace oft::app {

std::filesystem::path bundled_data_folder(const std::string& name) {
  // /proc/self/exe is the executable itself, with every link resolved (also when oft is run through one).
  std::error_code ec;
  const std::filesystem::path executable = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};  // no /proc: the caller asks for the folder instead
  return (executable.parent_path().parent_path() / "share" / "oft" / name).lexically_normal();
}

}  // namespace oft::app
