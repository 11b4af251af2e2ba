#pragma once
// Which x86 instruction sets the CPU kernels of the core and the plugins may take: what the CPU has, capped by the
// environment variable OFT_CPU_CAPABILITY (LibTorch's ATEN_CPU_CAPABILITY values: "default" for code for every
// x86-64 CPU, "avx2" for AVX2 + FMA + F16C, "avx512" or unset for all the CPU has). The cap lets one machine run
// every test down the paths a lesser CPU takes (scripts/test-cpu-capabilities.sh does, for the whole suite).
//
// Header-only, not part of the plugin ABI (tests/abi leaves it out): each plugin compiles its own copy and reads
// the variable once, at its first kernel choice.
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace oft::sdk {

enum class CpuCapability { kDefault, kAvx2, kAvx512 };

// The cap a value of OFT_CPU_CAPABILITY sets (null or empty: no cap). Throws std::invalid_argument naming the
// variable and the values it takes.
inline CpuCapability cpu_capability_cap(const char* value) {
  const std::string text = value ? value : "";
  if (text.empty() || text == "avx512") return CpuCapability::kAvx512;
  if (text == "avx2") return CpuCapability::kAvx2;
  if (text == "default") return CpuCapability::kDefault;
  throw std::invalid_argument("OFT_CPU_CAPABILITY is '" + text + "'; expected default, avx2 or avx512 (or unset)");
}

// The cap of this process, read once.
inline CpuCapability cpu_capability_allowed() {
  static const CpuCapability cap = cpu_capability_cap(std::getenv("OFT_CPU_CAPABILITY"));
  return cap;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
inline bool cpu_has_f16c() {
  static const bool has = cpu_capability_allowed() >= CpuCapability::kAvx2 && __builtin_cpu_supports("avx") &&
                          __builtin_cpu_supports("f16c");
  return has;
}
inline bool cpu_has_avx2() {
  static const bool has = cpu_capability_allowed() >= CpuCapability::kAvx2 && __builtin_cpu_supports("avx2");
  return has;
}
inline bool cpu_has_fma() {
  static const bool has = cpu_capability_allowed() >= CpuCapability::kAvx2 && __builtin_cpu_supports("fma");
  return has;
}
inline bool cpu_has_avx512f() {
  static const bool has = cpu_capability_allowed() >= CpuCapability::kAvx512 && __builtin_cpu_supports("avx512f");
  return has;
}
inline bool cpu_has_avx512bw() {
  static const bool has = cpu_capability_allowed() >= CpuCapability::kAvx512 && __builtin_cpu_supports("avx512bw");
  return has;
}
#endif

}  // namespace oft::sdk
