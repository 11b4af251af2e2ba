#include "cuda_ops.h"

#include <stdexcept>
#include <string>

#include "oft/sdk/companion_library.h"

namespace oft::bnb {
namespace {

#if defined(OFT_BNB_CUDA_LIBRARY)
// Any object of this library: its address tells which file (and folder) the plugin was loaded from.
const char kAnchor = 0;

const CudaOps* load() {
  using Entry = const CudaOps* (*)();
  const auto entry =
      reinterpret_cast<Entry>(sdk::load_companion_symbol(&kAnchor, OFT_BNB_CUDA_LIBRARY, "oft_bnb_cuda_ops"));
  const CudaOps* ops = entry();
  if (ops == nullptr || ops->version != CudaOps::kVersion)
    throw std::runtime_error(std::string("bnb: ") + OFT_BNB_CUDA_LIBRARY + " is version " +
                             std::to_string(ops ? ops->version : 0) + ", the plugin needs " +
                             std::to_string(CudaOps::kVersion) + " (install both from one build)");
  return ops;
}
#endif

}  // namespace

const CudaOps& cuda_ops() {
#if defined(OFT_BNB_CUDA_LIBRARY)
  // A failed load throws out of the initializer, so the next call tries again.
  static const CudaOps* const ops = [] {
    try {
      return load();
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("bnb: CUDA kernels unavailable: ") + e.what());
    }
  }();
  return *ops;
#else
  throw std::runtime_error(
      "bnb: this plugin was built without CUDA (no nvcc at build time), so its layers run on the CPU only; "
      "move the model to the CPU or rebuild oft with the CUDA Toolkit");
#endif
}

void check_device_supported(const at::Tensor& t, const char* what) {
  if (!t.device().is_cpu() && !t.device().is_cuda())
    throw std::invalid_argument(std::string(what) + ": tensors must be on the CPU or a CUDA device, got " +
                                t.device().str());
}

}  // namespace oft::bnb
