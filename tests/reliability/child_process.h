#pragma once
// Runs the `oft` command as a child process for the reliability tests: its exit status, its output,
// a memory ceiling (a hostile size must fail cleanly, not allocate it) and an optional SIGKILL.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace oft::test {

struct ChildResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that ended it, 0 when it exited
  std::string output;  // stdout and stderr together
};

struct ChildOptions {
  size_t address_space_limit = size_t{4} << 30;         // RLIMIT_AS of the child
  std::optional<std::chrono::microseconds> kill_after;  // SIGKILL after this long, if still running
  // When set, kill_after counts from the moment this first returns true (polled about every millisecond)
  // instead of from the start: a kill tied to the child's progress, not to how busy the machine is.
  std::function<bool()> count_kill_from;
};

ChildResult run_child(const std::vector<std::string>& argv, const ChildOptions& options = {});

}  // namespace oft::test
