#include "aqlm_cuda_ops.h"

#include <stdexcept>
#include <string>

#include "oft/sdk/companion_library.h"

namespace oft::aqlm {
namespace {

#if defined(OFT_AQLM_CUDA_LIBRARY)
// Any object of this library: its address tells which file (and folder) the plugin was loaded from.
const char kAnchor = 0;
#endif

}  // namespace

bool cuda_ops_built() {
#if defined(OFT_AQLM_CUDA_LIBRARY)
  return true;
#else
  return false;
#endif
}

const CudaOps& cuda_ops() {
#if defined(OFT_AQLM_CUDA_LIBRARY)
  return sdk::companion_table<CudaOps>(&kAnchor, OFT_AQLM_CUDA_LIBRARY, "oft_aqlm_cuda_ops", "aqlm");
#else
  throw std::runtime_error(
      "aqlm: this plugin was built without CUDA (no nvcc at build time), so its layers cannot use the CUDA kernels; "
      "move the model to the CPU or rebuild oft with the CUDA Toolkit");
#endif
}

}  // namespace oft::aqlm
