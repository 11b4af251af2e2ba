// prepare_device without a GPU (this machine, CI): the CPU is ready, CUDA says clearly what is missing,
// and nothing is registered for CUDA. On a machine with a GPU the CUDA cases skip (the gpu tests cover it).
#include <string>

#include <gtest/gtest.h>

#include "oft/device/device.h"
#include "oft/device/rotation_kernels.h"
#include "oft/errors.h"

namespace {

// The error prepare_device gives for `device`, or "" when it succeeds.
std::string error_of(const c10::Device& device) {
  try {
    oft::prepare_device(device);
    return "";
  } catch (const oft::UsageError& e) {
    return e.what();
  }
}

// Without CUDA in the build the library is missing; with it, this machine has no device.
const char* expected_error() {
  return OFT_TEST_CUDA_BUILT ? "no CUDA device is visible (CUDA_VISIBLE_DEVICES"
                             : "this oft was built without CUDA (no liboft_cuda.so next to liboft_core: ";
}

TEST(PrepareDevice, CpuIsAlwaysReady) { EXPECT_NO_THROW(oft::prepare_device(c10::Device(c10::kCPU))); }

TEST(PrepareDevice, CudaWithoutADeviceSaysWhatIsMissing) {
  const std::string error = error_of(c10::Device(c10::kCUDA));
  if (error.empty()) GTEST_SKIP() << "a CUDA device is visible here: the gpu-labelled tests cover it";
  EXPECT_NE(error.find(expected_error()), std::string::npos) << error;
  // The same answer the second time (the library is loaded once).
  EXPECT_EQ(error_of(c10::Device(c10::kCUDA)), error);
  EXPECT_EQ(oft::rotation_kernels(c10::kCUDA), nullptr);
}

TEST(PrepareDevice, AnIndexBeyondTheVisibleDevicesIsRefused) {
  const std::string error = error_of(c10::Device(c10::kCUDA, 99));
  ASSERT_FALSE(error.empty());
  if (error_of(c10::Device(c10::kCUDA)).empty())
    EXPECT_NE(error.find("cuda:99 asked for, but "), std::string::npos) << error;
  else
    EXPECT_NE(error.find(expected_error()), std::string::npos) << error;
}

}  // namespace
