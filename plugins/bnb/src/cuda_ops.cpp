#include "cuda_ops.h"

#include <stdexcept>
#include <string>

#include "oft/sdk/companion_library.h"

namespace oft::bnb {
namespace {

#if defined(OFT_BNB_CUDA_LIBRARY)
// Any object of this library: its address tells which file (and folder) the plugin was loaded from.
const char kAnchor = 0;
#endif

}  // namespace

const CudaOps& cuda_ops() {
#if defined(OFT_BNB_CUDA_LIBRARY)
  return sdk::companion_table<CudaOps>(&kAnchor, OFT_BNB_CUDA_LIBRARY, "oft_bnb_cuda_ops", "bnb");
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
