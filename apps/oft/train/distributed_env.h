#pragma once
// Where this worker sits in a data-parallel run, from the variables torchrun (and Slurm or Kubernetes
// launchers configured like it, and `oft train --nproc-per-node`) set: RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT. Torch-free, so it is cheap to test.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace oft::app {

// A lost peer, a timed-out collective, a failed rendezvous or a failed worker.
struct DistributedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct WorkerPlace {
  int rank = 0;
  int world_size = 1;  // 1: a plain one-process run, no c10d at all
  // Unset when the launcher gave no LOCAL_RANK (Slurm, some Kubernetes setups): fine on the CPU, and on CUDA
  // when each process sees one GPU; a process that sees several cannot tell which one is its own.
  std::optional<int> local_rank;
  std::string master_addr;  // the host of rank 0, which serves the rendezvous store
  int master_port = 0;

  bool distributed() const { return world_size > 1; }
};

// TRAIN.json's "distributed": {"timeout_s": 300, "backend": "auto", "bucket_mb": 25}.
struct DistributedOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};  // rendezvous and each collective
  std::string backend = "auto";                                  // see resolve_backend
  int64_t bucket_bytes = 25 << 20;                               // gradients are reduced in buckets this big
};

// `lookup(name)` is getenv by default. No WORLD_SIZE (or 1): one process. Otherwise every variable
// must be present and valid, or a UsageError names it and what was expected.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
WorkerPlace worker_place_from_environment(const EnvLookup& lookup = {});

// The collective backend: "auto" picks "nccl" for CUDA tensors and "gloo" for CPU ones; "nccl" on the
// CPU or "gloo" on CUDA is a UsageError. (Whether this build has NCCL is checked as the group starts.)
std::string resolve_backend(const std::string& requested, bool cuda_device);

// Rank `rank`'s contiguous part [begin, end) of `count` items split over `world_size` ranks: the
// first count % world_size ranks take one item more; a rank may get none.
struct ShareRange {
  int64_t begin = 0, end = 0;
};
ShareRange contiguous_share(int64_t count, int rank, int world_size);

}  // namespace oft::app
