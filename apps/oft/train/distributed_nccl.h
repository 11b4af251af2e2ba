#pragma once
// The entry point of liboft_nccl (distributed_nccl.cpp, built with CUDA only), which
// distributed_group.cpp finds with dlsym when the backend is nccl.
#include <cstddef>
#include <cstdint>

#include <c10/util/intrusive_ptr.h>

namespace c10d {
class Store;
class Backend;
}  // namespace c10d

// Rank `rank` of `size` on GPU `device_index` (its local rank): sets that device current, creates c10d's
// ProcessGroupNCCL over `store` with `timeout_ms` per collective and stores it in `out`. 0 on success;
// else non-zero with the reason in `message` (no exception crosses the dlopen boundary).
extern "C" __attribute__((visibility("default"))) int oft_nccl_backend(const c10::intrusive_ptr<c10d::Store>* store,
                                                                       int rank, int size, int device_index,
                                                                       int64_t timeout_ms,
                                                                       c10::intrusive_ptr<c10d::Backend>* out,
                                                                       char* message, size_t message_size);
