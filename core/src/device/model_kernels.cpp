#include "oft/device/model_kernels.h"

#include "device/device_kernel_table.h"

namespace oft {
namespace {

// Never destroyed: a forward on another thread may read it while the process exits.
detail::DeviceKernelTable<ModelKernels>& model_table() {
  static auto* kernels = new detail::DeviceKernelTable<ModelKernels>();
  return *kernels;
}

}  // namespace

void register_model_kernels(c10::DeviceType device, const ModelKernels& kernels) { model_table().set(device, kernels); }

const ModelKernels* model_kernels(c10::DeviceType device) { return model_table().get(device); }

}  // namespace oft
