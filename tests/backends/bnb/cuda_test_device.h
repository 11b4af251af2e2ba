#pragma once
// For the plugins' GPU tests: makes LibTorch's CUDA backend usable in the test process (oft links only
// torch_cpu) and tells why it cannot be, the reason to skip with; "" when a CUDA device is ready.
// OFT_TEST_TORCH_CUDA_LIBRARY is LibTorch's libtorch_cuda.so, defined when the build has CUDA.
#include <dlfcn.h>

#include <filesystem>
#include <string>

#include <ATen/Context.h>

namespace oft::plugin_test {

inline std::string cuda_unavailable_reason() {
#if defined(OFT_TEST_TORCH_CUDA_LIBRARY)
  static const std::string reason = []() -> std::string {
    // Cheap first: without the NVIDIA driver's device node, loading LibTorch's CUDA library (seconds) is moot.
    if (!std::filesystem::exists("/dev/nvidiactl")) return "no NVIDIA driver (/dev/nvidiactl is missing)";
    if (dlopen(OFT_TEST_TORCH_CUDA_LIBRARY, RTLD_NOW | RTLD_GLOBAL) == nullptr)
      return std::string("cannot load LibTorch's CUDA backend: ") + dlerror();
    if (!at::hasCUDA()) return "no CUDA device is visible";
    return "";
  }();
  return reason;
#else
  return "this build has no CUDA (OFT_CUDA_ENABLED is off)";
#endif
}

}  // namespace oft::plugin_test

// Skips the test (with the reason) unless a CUDA device is ready.
#define OFT_REQUIRE_CUDA_OR_SKIP()                                                           \
  do {                                                                                       \
    if (const std::string why = ::oft::plugin_test::cuda_unavailable_reason(); !why.empty()) \
      GTEST_SKIP() << "needs a CUDA device: " << why;                                        \
  } while (0)
