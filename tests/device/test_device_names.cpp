// The device and dtype names of --device / --dtype and the host and train configs.
#include <gtest/gtest.h>

#include "oft/device/device.h"
#include "oft/errors.h"

namespace oft {
namespace {

TEST(DeviceNames, ParsesCpuCudaAndCudaIndex) {
  EXPECT_EQ(parse_device("cpu"), c10::Device(c10::kCPU));
  EXPECT_EQ(parse_device("cuda"), c10::Device(c10::kCUDA));
  EXPECT_FALSE(parse_device("cuda").has_index());
  EXPECT_EQ(parse_device("cuda:0"), c10::Device(c10::kCUDA, 0));
  EXPECT_EQ(parse_device("cuda:7"), c10::Device(c10::kCUDA, 7));
}

TEST(DeviceNames, RefusesOtherNamesSayingWhatIsExpected) {
  for (const char* bad : {"", "CPU", "gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:0:1", "cuda:100", "cuda:1 ", "mps"}) {
    try {
      parse_device(bad, "host config 'device'");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("host config 'device'"), std::string::npos) << message;
      EXPECT_NE(message.find("cuda:N"), std::string::npos) << message;
      EXPECT_NE(message.find("'" + std::string(bad) + "'"), std::string::npos) << message;
    }
  }
}

TEST(DeviceNames, ParsesShortAndLongDtypeNames) {
  EXPECT_EQ(parse_dtype("fp32"), c10::kFloat);
  EXPECT_EQ(parse_dtype("float32"), c10::kFloat);
  EXPECT_EQ(parse_dtype("bf16"), c10::kBFloat16);
  EXPECT_EQ(parse_dtype("bfloat16"), c10::kBFloat16);
  EXPECT_EQ(parse_dtype("fp16"), c10::kHalf);
  EXPECT_EQ(parse_dtype("float16"), c10::kHalf);
}

TEST(DeviceNames, RefusesOtherDtypes) {
  for (const char* bad : {"", "fp64", "int8", "half", "BF16"}) {
    try {
      parse_dtype(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("--dtype"), std::string::npos) << message;
      EXPECT_NE(message.find("bf16"), std::string::npos) << message;
    }
  }
}

TEST(DeviceNames, DtypeNamesRoundTrip) {
  for (const char* name : {"fp32", "bf16", "fp16"}) EXPECT_EQ(dtype_name(parse_dtype(name)), name);
  EXPECT_EQ(dtype_name(c10::kDouble), "Double");  // c10's name for the others
}

}  // namespace
}  // namespace oft
