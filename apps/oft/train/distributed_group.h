#pragma once
// The process group of a data-parallel run: a c10d TCPStore rendezvous (served by rank 0) and
// ProcessGroupGloo for CPU tensors, or ProcessGroupNCCL for CUDA ones (from liboft_nccl, built with CUDA
// only; each rank on its own GPU), with a timeout on every collective. For world size 1 there is no c10d at all and
// the collectives are no-ops. A failed or timed-out collective becomes a DistributedError naming the
// lost rank when one can be told: every rank writes a heartbeat to the store each second, and the
// ranks whose heartbeat stopped (or rank 0, when its store is gone) are the lost ones.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "distributed_env.h"

namespace oft::app {

class DataParallelGroup {
 public:
  // Joins the run `place` describes (blocks until every rank has joined or the timeout passes).
  // `compute_device`: where this rank computes (for CUDA, the GPU its NCCL communicator binds).
  DataParallelGroup(const WorkerPlace& place, const DistributedOptions& options,
                    const c10::Device& compute_device = c10::Device(c10::kCPU));
  ~DataParallelGroup();
  DataParallelGroup(const DataParallelGroup&) = delete;
  DataParallelGroup& operator=(const DataParallelGroup&) = delete;

  int rank() const { return place_.rank; }
  int world_size() const { return place_.world_size; }
  bool is_writer() const { return place_.rank == 0; }  // only rank 0 writes output_dir
  int64_t bucket_bytes() const { return options_.bucket_bytes; }

  // Starts summing `tensor` in place over all ranks; the returned function waits for it (and throws a
  // DistributedError when it failed). Every rank must start its reductions in the same order. A tensor
  // on any device: NCCL reduces on the rank's GPU and Gloo on the CPU, so others travel there and back.
  std::function<void()> start_all_reduce_sum(const at::Tensor& tensor);
  // Sums each tensor in place over all ranks; the collectives run in order, overlapping each other.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors);
  void barrier();

 private:
  struct C10d;
  [[noreturn]] void fail(const std::string& what, const std::exception& error);

  WorkerPlace place_;
  DistributedOptions options_;
  c10::Device collective_device_{c10::kCPU};
  std::unique_ptr<C10d> c10d_;  // null for world size 1
};

}  // namespace oft::app
