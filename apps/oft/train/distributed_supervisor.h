#pragma once
// `oft train --nproc-per-node N`: starts N workers on this host (the same command line without the
// option, with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT set, and
// OMP_NUM_THREADS = cores / N unless it is set), prefixes each line they print with "[rank R] ", and
// waits. When one exits non-zero or dies, it stops the others (SIGTERM and SIGCONT, then SIGKILL after
// a grace period) and throws a DistributedError naming that rank. Workers die with the supervisor
// (PR_SET_PDEATHSIG). Torch-free.
#include <chrono>
#include <string>
#include <vector>

namespace oft::app {

struct SupervisorOptions {
  int nproc = 1;
  std::chrono::milliseconds grace{std::chrono::seconds(5)};  // between SIGTERM and SIGKILL
};

// `command[0]` is the executable.
void supervise_local_workers(const std::vector<std::string>& command, const SupervisorOptions& options);

// This process's command line (/proc/self/exe and its arguments) without `--<option> VALUE` or
// `--<option>=VALUE`.
std::vector<std::string> own_command_line_without(const std::string& option);

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_local_port();

}  // namespace oft::app
