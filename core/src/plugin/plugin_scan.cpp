#include "plugin/plugin_scan.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oft/log.h"
#include "oft/plugin/plugin_report_json.h"
#include "plugin/plugin_discovery.h"

extern char** environ;

namespace oft::plugin {
namespace {

struct ChildOutcome {
  std::string output;  // stdout and stderr together
  int wait_status = 0;
  bool timed_out = false;
  std::string spawn_error;
};

struct RunningChild {
  size_t index;  // into the files being scanned
  pid_t pid;
  int output_fd;
  std::chrono::steady_clock::time_point deadline;
};

// Starts `scanner FILE` with stdout and stderr going to one pipe; false (and spawn_error) on failure.
bool start_child(const std::filesystem::path& scanner, const std::filesystem::path& file, RunningChild& child,
                 ChildOutcome& outcome) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    outcome.spawn_error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  const std::string scanner_text = scanner.string(), file_text = file.string();
  char* argv[] = {const_cast<char*>(scanner_text.c_str()), const_cast<char*>(file_text.c_str()), nullptr};
  const int spawn_result = posix_spawn(&child.pid, scanner_text.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (spawn_result != 0) {
    close(fds[0]);
    outcome.spawn_error = "cannot start " + scanner_text + ": " + std::strerror(spawn_result);
    return false;
  }
  child.output_fd = fds[0];
  return true;
}

void finish_child(const RunningChild& child, ChildOutcome& outcome) {
  close(child.output_fd);
  while (waitpid(child.pid, &outcome.wait_status, 0) < 0 && errno == EINTR) {
  }
}

// Runs one child per file, at most `jobs` at a time, each killed after `timeout`.
std::vector<ChildOutcome> run_children(const std::filesystem::path& scanner,
                                       const std::vector<std::filesystem::path>& files, unsigned jobs,
                                       std::chrono::milliseconds timeout) {
  std::vector<ChildOutcome> outcomes(files.size());
  std::vector<RunningChild> running;
  size_t next = 0;
  char buffer[4096];
  while (next < files.size() || !running.empty()) {
    while (next < files.size() && running.size() < std::max(1u, jobs)) {
      RunningChild child{next, 0, -1, std::chrono::steady_clock::now() + timeout};
      if (start_child(scanner, files[next], child, outcomes[next])) running.push_back(child);
      ++next;
    }
    if (running.empty()) continue;
    const auto now = std::chrono::steady_clock::now();
    auto soonest = running.front().deadline;
    for (const auto& c : running) soonest = std::min(soonest, c.deadline);
    std::vector<pollfd> fds;
    for (const auto& c : running) fds.push_back({c.output_fd, POLLIN, 0});
    const auto wait_ms =
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(soonest - now).count());
    if (poll(fds.data(), fds.size(), static_cast<int>(wait_ms)) < 0 && errno != EINTR) break;
    std::vector<RunningChild> still_running;
    for (size_t i = 0; i < running.size(); ++i) {
      const RunningChild& c = running[i];
      ChildOutcome& outcome = outcomes[c.index];
      bool done = false;
      if (fds[i].revents != 0) {
        const ssize_t n = read(c.output_fd, buffer, sizeof buffer);
        if (n > 0) outcome.output.append(buffer, static_cast<size_t>(n));
        done = n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);  // closed: the child has exited
      }
      if (!done && std::chrono::steady_clock::now() >= c.deadline) {
        outcome.timed_out = true;
        kill(c.pid, SIGKILL);
        done = true;
      }
      if (done)
        finish_child(c, outcome);
      else
        still_running.push_back(c);
    }
    running = std::move(still_running);
  }
  return outcomes;
}

// The last few lines the child printed that are not its verdict (e.g. "terminate called ...").
std::string output_tail(const std::string& output) {
  std::istringstream lines(output);
  std::vector<std::string> kept;
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line.front() != '{') kept.push_back(line);
  std::string tail;
  for (size_t i = kept.size() > 3 ? kept.size() - 3 : 0; i < kept.size(); ++i)
    tail += (tail.empty() ? "" : " | ") + kept[i];
  return tail.size() > 400 ? tail.substr(tail.size() - 400) : tail;
}

std::string verdict_line(const std::string& output) {
  std::istringstream lines(output);
  std::string verdict;
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("{\"")) verdict = line;
  return verdict;
}

ScanResult verdict_of(const ChildOutcome& child, const std::filesystem::path& file, std::chrono::milliseconds timeout) {
  PluginFileReport rejected;
  rejected.file = file;
  rejected.name = plugin_name_from_file(file);
  rejected.status = PluginStatus::Rejected;
  if (!child.spawn_error.empty()) {
    rejected.reason = "safe scanning is on but the scanner did not run (" + child.spawn_error +
                      "); set OFT_PLUGIN_SCANNER or turn plugins.safe_scan off";
    return {rejected, false};
  }
  const std::string tail = output_tail(child.output);
  const std::string last_words = tail.empty() ? "" : "; its last output: " + tail;
  if (child.timed_out) {
    rejected.reason = "did not finish loading within " + std::to_string(timeout.count()) +
                      " ms in the safe-scan process" + last_words;
    return {rejected, false};
  }
  if (WIFSIGNALED(child.wait_status)) {
    const int signal = WTERMSIG(child.wait_status);
    rejected.reason = "crashed while loading in the safe-scan process (signal " + std::to_string(signal) + ", " +
                      strsignal(signal) + ")" + last_words;
    return {rejected, true};
  }
  const std::string verdict = verdict_line(child.output);
  if (verdict.empty()) {
    rejected.reason = "the safe-scan process exited with status " + std::to_string(WEXITSTATUS(child.wait_status)) +
                      " without a verdict" + last_words;
    return {rejected, true};
  }
  try {
    PluginFileReport report = file_report_from_json(nlohmann::json::parse(verdict));
    report.file = file;
    return {report, true};
  } catch (const std::exception& e) {
    rejected.reason = std::string("the safe-scan process printed an unreadable verdict: ") + e.what();
    return {rejected, true};
  }
}

}  // namespace

std::filesystem::path find_scanner(const PluginHostOptions& options) {
  if (!options.scanner.empty()) return options.scanner;
  if (const char* env = std::getenv("OFT_PLUGIN_SCANNER"); env && *env) return env;
  return core_library_folder().parent_path() / "bin" / "oft-plugin-scan";
}

std::vector<ScanResult> scan_in_children(const std::filesystem::path& scanner,
                                         const std::vector<std::filesystem::path>& files, unsigned jobs,
                                         std::chrono::milliseconds timeout) {
  const std::vector<ChildOutcome> outcomes = run_children(scanner, files, jobs, timeout);
  std::vector<ScanResult> results;
  for (size_t i = 0; i < files.size(); ++i) results.push_back(verdict_of(outcomes[i], files[i], timeout));
  return results;
}

}  // namespace oft::plugin
