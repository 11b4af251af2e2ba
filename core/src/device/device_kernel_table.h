#pragma once
// One slot per device type for a set of kernels (a struct of function pointers) that a device library registers
// and every forward reads: an atomic pointer to a copy that is never freed (a registration is rare, and a forward
// may still hold the previous one). Every copy stays listed, so a replaced one is kept, not leaked.
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <c10/core/DeviceType.h>

namespace oft::detail {

template <class Kernels>
class DeviceKernelTable {
 public:
  void set(c10::DeviceType device, const Kernels& kernels) {
    const std::lock_guard<std::mutex> lock(mutex_);
    registrations_.push_back(std::make_unique<const Kernels>(kernels));
    slots_[static_cast<size_t>(device)].store(registrations_.back().get(), std::memory_order_release);
  }
  const Kernels* get(c10::DeviceType device) const {
    return slots_[static_cast<size_t>(device)].load(std::memory_order_acquire);
  }

 private:
  std::array<std::atomic<const Kernels*>, static_cast<size_t>(c10::DeviceType::COMPILE_TIME_MAX_DEVICE_TYPES)> slots_{};
  std::mutex mutex_;
  std::vector<std::unique_ptr<const Kernels>> registrations_;
};

}  // namespace oft::detail
