// liboft_nccl: c10d's ProcessGroupNCCL for a data-parallel run on CUDA tensors. Built only with CUDA
// (OFT_CUDA_ENABLED) and loaded by distributed_group.cpp when the backend is nccl, so that neither the
// oft executable nor a CPU run loads torch_cuda or NCCL.
#include "distributed_nccl.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

extern "C" int oft_nccl_backend(const c10::intrusive_ptr<c10d::Store>* store, int rank, int size, int device_index,
                                int64_t timeout_ms, c10::intrusive_ptr<c10d::Backend>* out, char* message,
                                size_t message_size) {
  try {
    // Blocking waits: a timed-out collective then throws in the waiting rank (which names the lost rank)
    // instead of NCCL's watchdog aborting the process. A launcher's own setting wins.
    setenv("TORCH_NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
    const auto index = static_cast<c10::DeviceIndex>(device_index);
    c10::cuda::set_device(index);
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = std::chrono::milliseconds(timeout_ms);
    auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(*store, rank, size, options);
    group->setBoundDeviceId(c10::Device(c10::kCUDA, index));  // barrier() then knows this rank's GPU
    *out = group;
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(message, message_size, "%s", e.what());
    return 1;
  }
}
