#include "oft/device/rotation_kernels.h"

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace oft {
namespace {

// One slot per device type, read on every rotation: an atomic pointer to a copy that is never freed
// (a registration is rare, and a forward may still hold the previous one). Every copy stays listed in
// `registrations`, so a replaced one is kept, not leaked.
std::array<std::atomic<const RotationKernels*>, static_cast<size_t>(c10::DeviceType::COMPILE_TIME_MAX_DEVICE_TYPES)>&
slots() {
  static std::array<std::atomic<const RotationKernels*>,
                    static_cast<size_t>(c10::DeviceType::COMPILE_TIME_MAX_DEVICE_TYPES)>
      table{};
  return table;
}

}  // namespace

void register_rotation_kernels(c10::DeviceType device, const RotationKernels& kernels) {
  static std::mutex mutex;
  static auto* registrations = new std::vector<std::unique_ptr<const RotationKernels>>();
  const std::lock_guard<std::mutex> lock(mutex);
  registrations->push_back(std::make_unique<const RotationKernels>(kernels));
  slots()[static_cast<size_t>(device)].store(registrations->back().get(), std::memory_order_release);
}

const RotationKernels* rotation_kernels(c10::DeviceType device) {
  return slots()[static_cast<size_t>(device)].load(std::memory_order_acquire);
}

}  // namespace oft
