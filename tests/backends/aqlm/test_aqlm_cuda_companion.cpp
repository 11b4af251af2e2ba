// The CUDA companion library loads on any machine (no GPU needed: nothing runs) with every symbol resolved, offers
// the operations table the plugin expects, and refuses tensors that are not on a CUDA device, or settings it does
// not know, by name.
#include <dlfcn.h>

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "aqlm_cuda_ops.h"

namespace oft::aqlm::test {
namespace {

TEST(AqlmCudaCompanion, LoadsAndOffersTheOperationsThePluginExpects) {
#if defined(OFT_AQLM_CUDA_COMPANION)
  EXPECT_TRUE(cuda_ops_built());
  void* handle = dlopen(OFT_AQLM_CUDA_COMPANION, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  using Entry = const CudaOps* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(handle, "oft_aqlm_cuda_ops"));
  ASSERT_NE(entry, nullptr);
  const CudaOps* ops = entry();
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->version, CudaOps::kVersion);
  ASSERT_NE(ops->dequantize, nullptr);
  // CPU tensors: a clear error before anything touches CUDA. 2x8 codes of a 4 x 16 weight in input groups of 8.
  const at::Tensor codes = at::zeros({4, 2, 2}, at::kChar), codebooks = at::zeros({2, 256, 1, 8}),
                   scales = at::ones({4, 1, 1, 1});
  const auto expect_refused = [&](const auto& call, const std::string& message) {
    try {
      call();
      ADD_FAILURE() << "accepted: " << message;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  expect_refused([&] { ops->dequantize(codes, 8, codebooks, scales); },
                 "aqlm dequantization (CUDA): tensor \"codebooks\" must be on a CUDA device, got cpu");
  expect_refused([&] { ops->dequantize(codes, 17, codebooks, scales); }, "nbits_per_codebook must be 1..16, got 17");
#else
  EXPECT_FALSE(cuda_ops_built());
  GTEST_SKIP() << "this build has no CUDA (OFT_CUDA_ENABLED is off): there is no companion library";
#endif
}

}  // namespace
}  // namespace oft::aqlm::test
