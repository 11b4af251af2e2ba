#include "gptq_cuda_ops.h"

#include <stdexcept>
#include <string>

#include "oft/sdk/companion_library.h"

namespace oft::gptq {
namespace {

#if defined(OFT_GPTQ_CUDA_LIBRARY)
// Any object of this library: its address tells which file (and folder) the plugin was loaded from.
const char kAnchor = 0;
#endif

}  // namespace

const CudaOps& cuda_ops() {
#if defined(OFT_GPTQ_CUDA_LIBRARY)
  return sdk::companion_table<CudaOps>(&kAnchor, OFT_GPTQ_CUDA_LIBRARY, "oft_gptq_cuda_ops", "gptq");
#else
  throw std::runtime_error(
      "gptq: this plugin was built without CUDA (no nvcc at build time), so its layers run on the CPU only; "
      "move the model to the CPU or rebuild oft with the CUDA Toolkit");
#endif
}

}  // namespace oft::gptq
