// The CUDA companion library loads on any machine (no GPU needed: nothing runs) with every symbol resolved,
// and offers the operations table the plugin expects.
#include <dlfcn.h>

#include <gtest/gtest.h>

#include "gptq_cuda_ops.h"

namespace oft::gptq::test {
namespace {

TEST(GptqCudaCompanion, LoadsAndOffersTheOperationsThePluginExpects) {
#if defined(OFT_GPTQ_CUDA_COMPANION)
  void* handle = dlopen(OFT_GPTQ_CUDA_COMPANION, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  using Entry = const CudaOps* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(handle, "oft_gptq_cuda_ops"));
  ASSERT_NE(entry, nullptr);
  const CudaOps* ops = entry();
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->version, CudaOps::kVersion);
  EXPECT_NE(ops->dequantize_kn, nullptr);
#else
  GTEST_SKIP() << "this build has no CUDA (OFT_CUDA_ENABLED is off): there is no companion library";
#endif
}

}  // namespace
}  // namespace oft::gptq::test
