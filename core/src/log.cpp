#include "oft/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace oft {

std::shared_ptr<spdlog::logger> logger() {
  // Created once, thread-safe (function-local static); logs to stderr so stdout stays for results.
  static const std::shared_ptr<spdlog::logger> instance = [] {
    auto existing = spdlog::get("oft");
    if (existing) return existing;
    auto created = spdlog::stderr_color_mt("oft");
    created->set_pattern("[%l] %v");
    return created;
  }();
  return instance;
}

}  // namespace oft
