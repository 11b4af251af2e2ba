#include "stale_temporaries.h"

#include <cerrno>
#include <regex>
#include <string>

#include <signal.h>

#include "oft/log.h"

namespace oft::app {
namespace {

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

}  // namespace

bool parse_temporary_name(const std::string& name, long& pid) {
  static const std::regex pattern(R"((?:\.(?:checkpoint|adapter)\.oft-(?:tmp|old))"
                                  R"(|(?:metrics\.json|eval_logits\.safetensors)\.tmp)\.(\d{1,9})\.\d+)");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return false;
  pid = std::stol(match[1].str());
  return true;
}

int remove_stale_temporaries(const std::filesystem::path& folder) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    long pid = 0;
    if (!parse_temporary_name(entry.path().filename().string(), pid) || process_alive(pid)) continue;
    std::error_code ignored;
    if (std::filesystem::remove_all(entry.path(), ignored) > 0) {
      logger()->info("removed {}, left by a killed run", entry.path().string());
      ++removed;
    }
  }
  return removed;
}

}  // namespace oft::app
