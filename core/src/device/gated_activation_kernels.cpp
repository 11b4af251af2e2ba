#include "oft/device/gated_activation_kernels.h"

#include "device/device_kernel_table.h"

namespace oft {
namespace {

// Never destroyed: a forward on another thread may read it while the process exits.
detail::DeviceKernelTable<GatedActivationKernels>& gated_table() {
  static auto* kernels = new detail::DeviceKernelTable<GatedActivationKernels>();
  return *kernels;
}

}  // namespace

void register_gated_activation_kernels(c10::DeviceType device, const GatedActivationKernels& kernels) {
  gated_table().set(device, kernels);
}

const GatedActivationKernels* gated_activation_kernels(c10::DeviceType device) { return gated_table().get(device); }

}  // namespace oft
