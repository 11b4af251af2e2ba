#include "gptq_cuda_ops.h"

#include <stdexcept>
#include <string>

#include "oft/sdk/companion_library.h"

namespace oft::gptq {
namespace {

#if defined(OFT_GPTQ_CUDA_LIBRARY)
// Any object of this library: its address tells which file (and folder) the plugin was loaded from.
const char kAnchor = 0;

const CudaOps* load() {
  using Entry = const CudaOps* (*)();
  const auto entry =
      reinterpret_cast<Entry>(sdk::load_companion_symbol(&kAnchor, OFT_GPTQ_CUDA_LIBRARY, "oft_gptq_cuda_ops"));
  const CudaOps* ops = entry();
  if (ops == nullptr || ops->version != CudaOps::kVersion)
    throw std::runtime_error(std::string("gptq: ") + OFT_GPTQ_CUDA_LIBRARY + " is version " +
                             std::to_string(ops ? ops->version : 0) + ", the plugin needs " +
                             std::to_string(CudaOps::kVersion) + " (install both from one build)");
  return ops;
}
#endif

}  // namespace

const CudaOps& cuda_ops() {
#if defined(OFT_GPTQ_CUDA_LIBRARY)
  // A failed load throws out of the initializer, so the next call tries again.
  static const CudaOps* const ops = [] {
    try {
      return load();
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("gptq: CUDA kernels unavailable: ") + e.what());
    }
  }();
  return *ops;
#else
  throw std::runtime_error(
      "gptq: this plugin was built without CUDA (no nvcc at build time), so its layers run on the CPU only; "
      "move the model to the CPU or rebuild oft with the CUDA Toolkit");
#endif
}

}  // namespace oft::gptq
