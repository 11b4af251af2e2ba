// The CUDA companion library loads on any machine (no GPU needed: nothing runs) with every symbol resolved, offers
// the operations table the plugin expects, and refuses tensors that are not on a CUDA device by name.
#include <dlfcn.h>

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "awq_cuda_ops.h"

namespace oft::awq::test {
namespace {

TEST(AwqCudaCompanion, LoadsAndOffersTheOperationsThePluginExpects) {
#if defined(OFT_AWQ_CUDA_COMPANION)
  EXPECT_TRUE(cuda_ops_built());
  void* handle = dlopen(OFT_AWQ_CUDA_COMPANION, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  using Entry = const CudaOps* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(handle, "oft_awq_cuda_ops"));
  ASSERT_NE(entry, nullptr);
  const CudaOps* ops = entry();
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->version, CudaOps::kVersion);
  ASSERT_NE(ops->dequantize_gemm, nullptr);
  ASSERT_NE(ops->dequantize_gemv, nullptr);
  // CPU tensors: a clear error before anything touches CUDA.
  const at::Tensor words = at::zeros({64, 4}, at::kInt), scales = at::ones({2, 32});
  try {
    ops->dequantize_gemm(words, at::zeros({2, 4}, at::kInt), scales, 4, 32, 64, 32, at::kFloat);
    ADD_FAILURE() << "CPU tensors were accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"qweight\" must be on a CUDA device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops->dequantize_gemv(at::zeros({32, 8}, at::kInt), at::zeros({32, 1}, at::kInt), at::ones({32, 8}), 32,
                                    64, 32, at::kHalf),
               std::invalid_argument);
  EXPECT_THROW(ops->dequantize_gemm(words, at::zeros({2, 4}, at::kInt), scales, 5, 32, 64, 32, at::kFloat),
               std::invalid_argument);
#else
  EXPECT_FALSE(cuda_ops_built());
  GTEST_SKIP() << "this build has no CUDA (OFT_CUDA_ENABLED is off): there is no companion library";
#endif
}

}  // namespace
}  // namespace oft::awq::test
