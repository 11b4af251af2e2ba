#include "oft/device/rotation_kernels.h"

#include "device/device_kernel_table.h"

namespace oft {
namespace {

// Never destroyed: a forward on another thread may read it while the process exits.
detail::DeviceKernelTable<RotationKernels>& rotation_table() {
  static auto* kernels = new detail::DeviceKernelTable<RotationKernels>();
  return *kernels;
}

}  // namespace

void register_rotation_kernels(c10::DeviceType device, const RotationKernels& kernels) {
  rotation_table().set(device, kernels);
}

const RotationKernels* rotation_kernels(c10::DeviceType device) { return rotation_table().get(device); }

}  // namespace oft
