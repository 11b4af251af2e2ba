// prepare_device: the CPU is always ready; CUDA needs liboft_cuda (LibTorch's CUDA backend and oft's
// kernels), which liboft_core does not link so that CPU-only start-up and machines are unaffected. It is
// loaded once, from liboft_core's own folder, on the first CUDA device asked for.
#include <dlfcn.h>

#include <cstddef>
#include <filesystem>
#include <string>

#include "oft/device/device.h"
#include "oft/errors.h"

namespace oft {
namespace {

using CudaPrepare = int(int index, char* message, size_t size);

struct CudaLibrary {
  CudaPrepare* prepare = nullptr;
  std::string error;  // why CUDA is not usable, when prepare is null
};

// An object of liboft_core itself: the address of an exported function could be an executable's PLT stub.
const char kCoreAnchor = 0;

CudaLibrary load_cuda_library() {
  CudaLibrary result;
  const auto folder = core_library_folder();
  if (folder.empty()) {
    result.error = "the folder of liboft_core could not be found (dladdr failed), so liboft_cuda.so cannot be located";
    return result;
  }
  const auto path = folder / "liboft_cuda.so";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    result.error = "this oft was built without CUDA (no liboft_cuda.so next to liboft_core: " + path.string() + ")";
    return result;
  }
  // Never closed: LibTorch's CUDA backend registers itself process-wide as it loads. Global, as if
  // linked: its symbols (LibTorch's CUDA operators) resolve like those of a linked library.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) {
    result.error = "liboft_cuda could not be loaded (" + path.string() + "): " + dlerror();
    return result;
  }
  result.prepare = reinterpret_cast<CudaPrepare*>(dlsym(handle, "oft_cuda_prepare"));
  if (result.prepare == nullptr) result.error = path.string() + " has no oft_cuda_prepare: it is not oft's liboft_cuda";
  return result;
}

}  // namespace

std::filesystem::path core_library_folder() {
  Dl_info info{};
  if (dladdr(&kCoreAnchor, &info) == 0 || info.dli_fname == nullptr) return {};
  return std::filesystem::path(info.dli_fname).parent_path();
}

void prepare_device(const c10::Device& device) {
  if (device.is_cpu()) return;
  if (!device.is_cuda()) throw UsageError("device " + device.str() + " is not supported (expected cpu or cuda[:N])");
  static const CudaLibrary library = load_cuda_library();
  if (library.prepare == nullptr) throw UsageError(library.error);
  char message[512] = {};
  if (library.prepare(device.has_index() ? device.index() : 0, message, sizeof message) != 0) throw UsageError(message);
}

}  // namespace oft
