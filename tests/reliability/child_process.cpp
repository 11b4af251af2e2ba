#include "child_process.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace oft::test {
namespace {

std::string slurp_and_remove(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path.c_str());
  return text.str();
}

}  // namespace

ChildResult run_child(const std::vector<std::string>& argv, const ChildOptions& options) {
  // Output goes to a file, not a pipe: a child killed mid-write cannot block the parent.
  char output_path[] = "/tmp/oft-child-output-XXXXXX";
  const int output_fd = ::mkstemp(output_path);
  if (output_fd < 0) throw std::runtime_error("mkstemp failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
    const rlimit limit{options.address_space_limit, options.address_space_limit};
    ::setrlimit(RLIMIT_AS, &limit);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(output_fd);

  int status = 0;
  if (options.kill_after) {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (!options.count_kill_from) deadline = std::chrono::steady_clock::now() + *options.kill_after;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (!deadline) {
        if (options.count_kill_from()) deadline = std::chrono::steady_clock::now() + *options.kill_after;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (std::chrono::steady_clock::now() >= *deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  } else {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  ChildResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.output = slurp_and_remove(output_path);
  return result;
}

}  // namespace oft::test
