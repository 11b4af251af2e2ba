// The CUDA companion library loads on any machine (no GPU needed: nothing runs) with every symbol resolved, offers
// the operations table the plugin expects, and refuses tensors that are not on a CUDA device, or settings it does
// not know, by name.
#include <dlfcn.h>

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "hqq_cuda_ops.h"

namespace oft::hqq::test {
namespace {

TEST(HqqCudaCompanion, LoadsAndOffersTheOperationsThePluginExpects) {
#if defined(OFT_HQQ_CUDA_COMPANION)
  EXPECT_TRUE(cuda_ops_built());
  void* handle = dlopen(OFT_HQQ_CUDA_COMPANION, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  using Entry = const CudaOps* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(handle, "oft_hqq_cuda_ops"));
  ASSERT_NE(entry, nullptr);
  const CudaOps* ops = entry();
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->version, CudaOps::kVersion);
  ASSERT_NE(ops->dequantize, nullptr);
  // CPU tensors: a clear error before anything touches CUDA. 4-bit codes of a 16 x 32 code matrix, one zero and scale
  // per code row.
  const at::Tensor packed = at::zeros({8, 32}, at::kByte), zero = at::zeros({16, 1}), scale = at::ones({16, 1});
  const auto expect_refused = [&](const auto& call, const std::string& message) {
    try {
      call();
      ADD_FAILURE() << "accepted: " << message;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  expect_refused([&] { ops->dequantize(packed, zero, scale, 4, 16, 32, at::kFloat, at::kFloat); },
                 "hqq dequantization (CUDA): tensor \"packed\" must be on a CUDA device, got cpu");
  expect_refused([&] { ops->dequantize(packed, zero, scale, 5, 16, 32, at::kFloat, at::kFloat); },
                 "bits must be 1, 2, 3, 4 or 8, got 5");
  expect_refused([&] { ops->dequantize(packed, zero, scale, 4, 15, 32, at::kFloat, at::kFloat); },
                 "15 code rows do not split into the 2 planes of 4-bit codes");
  expect_refused([&] { ops->dequantize(packed, zero, scale, 4, 16, 32, at::kDouble, at::kDouble); },
                 "the difference dtype must be float32, float16 or bfloat16, got Double");
#else
  EXPECT_FALSE(cuda_ops_built());
  GTEST_SKIP() << "this build has no CUDA (OFT_CUDA_ENABLED is off): there is no companion library";
#endif
}

}  // namespace
}  // namespace oft::hqq::test
