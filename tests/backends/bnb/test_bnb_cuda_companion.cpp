// The CUDA companion library loads on any machine (no GPU needed: nothing runs) with every symbol resolved,
// and offers the operations table the plugin expects; a missing companion is a clear error.
#include <dlfcn.h>

#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "cuda_ops.h"
#include "oft/sdk/companion_library.h"

namespace oft::bnb {
namespace {

TEST(BnbCudaCompanion, LoadsAndOffersTheOperationsThePluginExpects) {
#if defined(OFT_BNB_CUDA_COMPANION)
  void* handle = dlopen(OFT_BNB_CUDA_COMPANION, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  using Entry = const CudaOps* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(handle, "oft_bnb_cuda_ops"));
  ASSERT_NE(entry, nullptr);
  const CudaOps* ops = entry();
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->version, CudaOps::kVersion);
  EXPECT_TRUE(ops->dequantize_4bit && ops->dequantize_absmax && ops->dequantize_int8 && ops->gemv_4bit);
#else
  GTEST_SKIP() << "this build has no CUDA (OFT_CUDA_ENABLED is off): there is no companion library";
#endif
}

TEST(BnbCudaCompanion, AMissingCompanionIsAnErrorNamingIt) {
  static const char anchor = 0;
  try {
    sdk::load_companion_symbol(&anchor, "liboft_no_such_companion.so", "oft_bnb_cuda_ops");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/liboft_no_such_companion.so"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace oft::bnb
