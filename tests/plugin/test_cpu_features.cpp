// sdk::cpu_has_*: what the CPU has, capped by OFT_CPU_CAPABILITY (scripts/test-cpu-capabilities.sh runs the whole
// suite under each cap, this test included).
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "oft/sdk/cpu_features.h"

namespace {

using oft::sdk::cpu_capability_cap;
using oft::sdk::CpuCapability;

TEST(CpuFeatures, CapTakesLibTorchsCapabilityNames) {
  EXPECT_EQ(cpu_capability_cap(nullptr), CpuCapability::kAvx512);
  EXPECT_EQ(cpu_capability_cap(""), CpuCapability::kAvx512);
  EXPECT_EQ(cpu_capability_cap("avx512"), CpuCapability::kAvx512);
  EXPECT_EQ(cpu_capability_cap("avx2"), CpuCapability::kAvx2);
  EXPECT_EQ(cpu_capability_cap("default"), CpuCapability::kDefault);
}

TEST(CpuFeatures, AnUnknownCapIsRefusedNamingTheVariableAndItsValues) {
  try {
    cpu_capability_cap("AVX2");
    FAIL() << "an unknown value was taken";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("OFT_CPU_CAPABILITY is 'AVX2'"), std::string::npos) << message;
    EXPECT_NE(message.find("default, avx2 or avx512"), std::string::npos) << message;
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
TEST(CpuFeatures, NoInstructionSetAboveThisProcesssCapIsTaken) {
  const CpuCapability cap = cpu_capability_cap(std::getenv("OFT_CPU_CAPABILITY"));
  EXPECT_EQ(oft::sdk::cpu_capability_allowed(), cap);
  if (cap < CpuCapability::kAvx2) {
    EXPECT_FALSE(oft::sdk::cpu_has_avx2());
    EXPECT_FALSE(oft::sdk::cpu_has_fma());
    EXPECT_FALSE(oft::sdk::cpu_has_f16c());
  }
  if (cap < CpuCapability::kAvx512) {
    EXPECT_FALSE(oft::sdk::cpu_has_avx512f());
    EXPECT_FALSE(oft::sdk::cpu_has_avx512bw());
  }
  // Up to the cap, what the CPU has.
  if (cap >= CpuCapability::kAvx2) {
    EXPECT_EQ(oft::sdk::cpu_has_avx2(), __builtin_cpu_supports("avx2") != 0);
  }
  if (cap >= CpuCapability::kAvx512) {
    EXPECT_EQ(oft::sdk::cpu_has_avx512f(), __builtin_cpu_supports("avx512f") != 0);
  }
}
#endif

}  // namespace
