#pragma once
// Four float / int32 lanes in GCC's and Clang's vector extensions, for the plugins' dequantization loops: SSE2
// on x86-64 and NEON on AArch64, with no CPU-specific flags, so a build runs on every CPU of its architecture.
// Each lane takes the same IEEE operations as scalar code, so results are the same bits. GCC vectorizes plain
// loops at -O2 only with a constant trip count and no possible overlap; these types say it outright.
//
// Header-only, not part of the plugin ABI (tests/abi leaves it out): each plugin compiles its own copy.
#include <cstdint>
#include <cstring>

namespace oft::sdk::simd4 {

using Floats = float __attribute__((vector_size(16)));
using Ints = int32_t __attribute__((vector_size(16)));
using Words = uint32_t __attribute__((vector_size(16)));

// Unaligned loads and stores (memcpy compiles to one vector move).
inline Floats load(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline Words load(const uint32_t* p) {
  Words v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Floats v) { std::memcpy(p, &v, sizeof v); }

// The same 128 bits seen as the other type.
inline Words bits_of(Floats v) {
  Words w;
  std::memcpy(&w, &v, sizeof w);
  return w;
}
inline Floats floats_of(Words w) {
  Floats v;
  std::memcpy(&v, &w, sizeof v);
  return v;
}

// Small unsigned integers (below 2^31) as floats, exactly.
inline Floats to_floats(Words v) { return __builtin_convertvector(__builtin_convertvector(v, Ints), Floats); }

}  // namespace oft::sdk::simd4
