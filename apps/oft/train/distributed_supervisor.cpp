#include "distributed_supervisor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "distributed_env.h"
#include "oft/log.h"

namespace oft::app {
namespace {

using Clock = std::chrono::steady_clock;

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  int output = -1;      // read end of its stdout + stderr; -1 once closed
  std::string partial;  // an unfinished line
  bool running = true;
};

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "stopped (status " + std::to_string(status) + ")";
}

// The worker's environment: this one with the rank variables set (and OMP_NUM_THREADS if unset).
std::vector<std::string> worker_environment(int rank, int nproc, int port) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::pair<std::string, std::string>> set = {
      {"RANK", std::to_string(rank)},        {"LOCAL_RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(nproc)}, {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
      {"MASTER_ADDR", "127.0.0.1"},          {"MASTER_PORT", std::to_string(port)}};
  if (!std::getenv("OMP_NUM_THREADS"))  // the cores shared out, as torchrun does
    set.emplace_back("OMP_NUM_THREADS", std::to_string(std::max(1u, cores / static_cast<unsigned>(nproc))));
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e, name = entry.substr(0, entry.find('='));
    if (std::none_of(set.begin(), set.end(), [&](const auto& kv) { return kv.first == name; })) env.push_back(entry);
  }
  for (const auto& [name, value] : set) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// In the child: only async-signal-safe calls (the parent may have threads), then exec.
[[noreturn]] void exec_worker(char* const* argv, char* const* envp, pid_t parent, int output) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);  // the supervisor died before prctl
  dup2(output, STDOUT_FILENO);
  dup2(output, STDERR_FILENO);
  execve(argv[0], argv, envp);
  static const char message[] = "oft train: cannot start the worker executable\n";
  [[maybe_unused]] const auto written = write(STDERR_FILENO, message, sizeof message - 1);
  _exit(127);
}

// Forwards the complete lines in `data` with the rank prefix (all of it at the end of the output).
void forward_lines(Worker& w, const std::string& data, bool flush) {
  w.partial += data;
  size_t start = 0;
  for (size_t nl; (nl = w.partial.find('\n', start)) != std::string::npos; start = nl + 1)
    std::cerr << "[rank " << w.rank << "] " << w.partial.substr(start, nl + 1 - start);
  w.partial.erase(0, start);
  if (flush && !w.partial.empty()) std::cerr << "[rank " << w.rank << "] " << w.partial << "\n", w.partial.clear();
  std::cerr.flush();
}

void drain(std::vector<Worker>& workers, int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<Worker*> owners;
  for (auto& w : workers)
    if (w.output >= 0) fds.push_back({w.output, POLLIN, 0}), owners.push_back(&w);
  if (fds.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    return;
  }
  if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buffer[4096];
    const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
    if (n > 0) {
      forward_lines(*owners[i], std::string(buffer, static_cast<size_t>(n)), false);
    } else if (n == 0 || errno != EAGAIN) {
      forward_lines(*owners[i], "", true);
      close(owners[i]->output);
      owners[i]->output = -1;
    }
  }
}

}  // namespace

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw DistributedError(std::string("cannot open a socket to find a free port: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!ok) throw DistributedError(std::string("cannot find a free port on 127.0.0.1: ") + std::strerror(errno));
  return ntohs(address.sin_port);
}

std::vector<std::string> own_command_line_without(const std::string& option) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t start = 0, end; start < all.size(); start = end + 1) {
    end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    args.push_back(all.substr(start, end - start));
  }
  if (args.empty()) throw DistributedError("cannot read this process's command line from /proc/self/cmdline");
  args[0] = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<std::string> kept{args[0]};
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == option) {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind(option + "=", 0) == 0) continue;
    kept.push_back(args[i]);
  }
  return kept;
}

void supervise_local_workers(const std::vector<std::string>& command, const SupervisorOptions& options) {
  const int port = free_local_port();
  logger()->info("starting {} workers on this host (rendezvous on 127.0.0.1:{})", options.nproc, port);
  std::vector<Worker> workers(static_cast<size_t>(options.nproc));
  std::vector<std::string> args = command;
  const std::vector<char*> argv = c_strings(args);
  for (int rank = 0; rank < options.nproc; ++rank) {
    std::vector<std::string> env = worker_environment(rank, options.nproc, port);
    const std::vector<char*> envp = c_strings(env);
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0) throw DistributedError(std::string("cannot create a pipe: ") + strerror(errno));
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) throw DistributedError(std::string("cannot start a worker: ") + std::strerror(errno));
    if (pid == 0) exec_worker(argv.data(), envp.data(), parent, ends[1]);
    close(ends[1]);
    fcntl(ends[0], F_SETFL, O_NONBLOCK);
    workers[static_cast<size_t>(rank)] = {rank, pid, ends[0], "", true};
  }

  std::string failure;
  Clock::time_point kill_at = Clock::time_point::max(), all_gone_at = Clock::time_point::max();
  size_t running = workers.size();
  while (running > 0 || std::any_of(workers.begin(), workers.end(), [](const Worker& w) { return w.output >= 0; })) {
    drain(workers, 100);
    for (auto& w : workers) {
      int status = 0;
      if (!w.running || waitpid(w.pid, &status, WNOHANG) != w.pid) continue;
      w.running = false;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (ok || !failure.empty()) continue;
      failure = "rank " + std::to_string(w.rank) + " (pid " + std::to_string(w.pid) + ") " + describe_exit(status);
      logger()->info("{}; stopping the other ranks", failure);
      for (const auto& other : workers)
        if (other.running) {
          kill(other.pid, SIGTERM);
          kill(other.pid, SIGCONT);  // a stopped (hung) worker takes no SIGTERM until it runs again
        }
      kill_at = Clock::now() + options.grace;
    }
    if (Clock::now() >= kill_at) {
      for (const auto& w : workers)
        if (w.running) kill(w.pid, SIGKILL);
      kill_at = Clock::time_point::max();
    }
    // A worker's own children may keep its pipe open: a second after the last worker, stop reading.
    if (running == 0 && all_gone_at == Clock::time_point::max()) all_gone_at = Clock::now();
    if (running == 0 && Clock::now() > all_gone_at + std::chrono::seconds(1))
      for (auto& w : workers)
        if (w.output >= 0) forward_lines(w, "", true), close(w.output), w.output = -1;
  }
  if (!failure.empty()) throw DistributedError(failure + "; the other ranks were stopped");
  logger()->info("all {} workers finished", options.nproc);
}

}  // namespace oft::app
