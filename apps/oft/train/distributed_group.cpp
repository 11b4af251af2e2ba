#include "distributed_group.h"

#include <dlfcn.h>
#include <signal.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "distributed_nccl.h"
#include "oft/device/device.h"
#include "oft/errors.h"
#include "oft/log.h"

namespace oft::app {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kHeartbeatInterval{500};
constexpr milliseconds kHeartbeatStale{1500};  // a rank silent this long has stopped

std::string heartbeat_key(int rank) { return "oft/heartbeat/" + std::to_string(rank); }

// A heartbeat is a count of beats, not a time: the hosts' clocks need not agree. The store keeps bytes.
std::vector<uint8_t> beat_bytes(int64_t count) {
  const std::string text = std::to_string(count);
  return {text.begin(), text.end()};
}

// Gloo's TCP device: the interface GLOO_SOCKET_IFNAME names (as in PyTorch); loopback for a one-host
// run on 127.0.0.1; otherwise the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const WorkerPlace& place) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  if (place.master_addr == "localhost" || place.master_addr.rfind("127.", 0) == 0)
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// c10d's ProcessGroupNCCL, from liboft_nccl in liboft_core's folder (oft_nccl_backend in
// distributed_nccl.cpp), so that neither this executable nor a CPU run loads torch_cuda or NCCL.
c10::intrusive_ptr<c10d::Backend> nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, const WorkerPlace& place,
                                               c10::DeviceIndex gpu, milliseconds timeout) {
  using Create = decltype(oft_nccl_backend);
  const std::filesystem::path library = core_library_folder() / "liboft_nccl.so";
  if (!std::filesystem::exists(library))
    throw UsageError("the nccl backend needs liboft_nccl.so (" + library.string() +
                     "), which only a CUDA build of oft has: train on the CPU with the gloo backend");
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_GLOBAL);  // never closed: CUDA state is process-wide
  if (!handle) throw UsageError("cannot load " + library.string() + ": " + dlerror());
  auto* create = reinterpret_cast<Create*>(dlsym(handle, "oft_nccl_backend"));
  if (!create) throw UsageError(library.string() + " has no oft_nccl_backend: it is not oft's liboft_nccl");
  c10::intrusive_ptr<c10d::Backend> backend;
  char message[1024] = {};
  if (create(&store, place.rank, place.world_size, gpu, timeout.count(), &backend, message, sizeof message) != 0)
    throw DistributedError(
        fmt::format("rank {}: cannot create the NCCL process group on GPU {}: {}", place.rank, gpu, message));
  return backend;
}

}  // namespace

struct DataParallelGroup::C10d {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::Backend> group;  // ProcessGroupGloo or ProcessGroupNCCL
  std::mutex mutex;
  std::condition_variable stop_signal;
  bool stopping = false;
  std::thread heartbeat;

  // The lock guards only `stopping`: a store call that stalls (rank 0 stopped) must not keep the
  // destructor from asking the thread to end.
  void beat(int rank) {
    for (int64_t count = 1;; ++count) {
      try {
        store->set(heartbeat_key(rank), beat_bytes(count));
      } catch (const std::exception&) {
        return;  // the store (rank 0) is gone: the next collective reports it
      }
      std::unique_lock lock(mutex);
      if (stop_signal.wait_for(lock, kHeartbeatInterval, [&] { return stopping; })) return;
    }
  }

  ~C10d() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    stop_signal.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  }
};

DataParallelGroup::DataParallelGroup(const WorkerPlace& place, const DistributedOptions& options,
                                     const c10::Device& compute_device)
    : place_(place), options_(options) {
  if (!place.distributed()) return;
  const std::string backend = resolve_backend(options.backend, compute_device.is_cuda());
  if (backend == "nccl") collective_device_ = compute_device;
  logger()->info("rank {} of {}: joining the run at {}:{} ({}, timeout {} s)", place.rank, place.world_size,
                 place.master_addr, place.master_port, backend, options.timeout.count() / 1000.0);
  // A write to the socket of a peer that died raises SIGPIPE, whose default action ends this rank with no word;
  // ignored, the write fails with EPIPE, which Gloo and the store throw, and the run names the lost rank. (Python,
  // where torch.distributed usually runs, ignores SIGPIPE at start-up.)
  signal(SIGPIPE, SIG_IGN);
  c10d_ = std::make_unique<C10d>();
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(place.master_port);
    store_options.isServer = place.rank == 0;
    store_options.numWorkers = place.world_size;
    store_options.waitWorkers = true;
    store_options.timeout = options.timeout;
    c10d_->store = c10::make_intrusive<c10d::TCPStore>(place.master_addr, store_options);
    c10d_->store->set(heartbeat_key(place.rank), beat_bytes(0));
    if (backend == "nccl") {
      c10d_->group = nccl_backend(c10d_->store, place, compute_device.index(), options.timeout);
    } else {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
      gloo_options->devices.push_back(gloo_device(place));
      c10d_->group =
          c10::make_intrusive<c10d::ProcessGroupGloo>(c10d_->store, place.rank, place.world_size, gloo_options);
    }
  } catch (const UsageError&) {
    throw;  // no liboft_nccl: not a failed rendezvous
  } catch (const std::exception& e) {
    throw DistributedError("rank " + std::to_string(place.rank) + " could not join the run at " + place.master_addr +
                           ":" + std::to_string(place.master_port) + " with " + std::to_string(place.world_size) +
                           " ranks: " + e.what());
  }
  c10d_->heartbeat = std::thread([this] { c10d_->beat(place_.rank); });
}

DataParallelGroup::~DataParallelGroup() = default;

std::function<void()> DataParallelGroup::start_all_reduce_sum(const at::Tensor& tensor) {
  if (!c10d_) return [] {};
  const bool staged = tensor.device() != collective_device_;
  const at::Tensor reduced = staged ? tensor.to(collective_device_) : tensor;
  c10::intrusive_ptr<c10d::Work> work;
  try {
    std::vector<at::Tensor> one{reduced};
    work = c10d_->group->allreduce(one);
  } catch (const std::exception& e) {
    fail("an all-reduce", e);
  }
  return [this, work, tensor, reduced, staged] {
    try {
      work->wait();
    } catch (const std::exception& e) {
      fail("an all-reduce", e);
    }
    if (staged) tensor.copy_(reduced);
  };
}

void DataParallelGroup::all_reduce_sum(const std::vector<at::Tensor>& tensors) {
  std::vector<std::function<void()>> waits;
  for (const auto& t : tensors) waits.push_back(start_all_reduce_sum(t));
  for (const auto& wait : waits) wait();
}

void DataParallelGroup::barrier() {
  if (!c10d_) return;
  try {
    c10d_->group->barrier()->wait();
  } catch (const std::exception& e) {
    fail("a barrier", e);
  }
}

// Names the ranks whose heartbeat stopped: reads every rank's beat count, waits long enough for a live
// rank to beat again, and reads them again (on this host's clock only). The store lives in rank 0, so a
// store that does not answer means rank 0 is gone.
void DataParallelGroup::fail(const std::string& what, const std::exception& error) {
  // NCCL's communicators are aborted now: destroying them normally would wait for the lost rank.
  if (collective_device_.is_cuda()) {
    try {
      c10d_->group->abort();
    } catch (const std::exception& e) {
      logger()->warn("rank {}: aborting the NCCL communicators failed: {}", place_.rank, e.what());
    }
  }
  const auto beats = [this] {
    std::vector<std::vector<uint8_t>> counts(place_.world_size);
    for (int r = 0; r < place_.world_size; ++r)
      if (r != place_.rank) counts[r] = c10d_->store->get(heartbeat_key(r));
    return counts;
  };
  constexpr milliseconds kWatch = kHeartbeatStale + kHeartbeatInterval;
  std::string lost;
  try {
    const auto before = beats();
    std::this_thread::sleep_for(kWatch);
    const auto after = beats();
    for (int r = 0; r < place_.world_size; ++r)
      if (r != place_.rank && before[r] == after[r])
        lost +=
            fmt::format("{}{} (silent for at least {:.1f} s)", lost.empty() ? "" : ", ", r, kWatch.count() / 1000.0);
  } catch (const std::exception&) {
    lost = "0 (its rendezvous store at " + place_.master_addr + ":" + std::to_string(place_.master_port) +
           " no longer answers)";
  }
  const std::string who =
      lost.empty() ? fmt::format("no rank stopped its heartbeat, so a rank is hung or slower than the timeout ({} s)",
                                 options_.timeout.count() / 1000.0)
                   : "lost rank " + lost;
  throw DistributedError("rank " + std::to_string(place_.rank) + ": " + what + " failed: " + who +
                         ". Collective error: " + error.what());
}

}  // namespace oft::app
