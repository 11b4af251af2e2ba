#pragma once
// Software prefetch for the plugins' tile dequantizers. A tile in TileLayout::kInByOut reads a short run of each
// packed row (a few words for the tile's columns), and consecutive rows lie a whole row apart, often more than a
// page: the hardware prefetcher, which follows streams within a page, misses them, and every row costs a trip to
// memory. Asking for the run of a row a few rows ahead hides that (gptq, 4096x4096, 1 token: about half the time).
//
// Header-only, not part of the plugin ABI (tests/abi leaves it out): each plugin compiles its own copy.
#include <cstdint>

namespace oft::sdk {

constexpr int64_t kCacheLineBytes = 64;

// Asks the CPU to start loading the bytes [p, p + bytes) into its caches (a hint: no fault, no effect on results).
inline void prefetch_bytes(const void* p, int64_t bytes) {
  const char* first = static_cast<const char*>(p);
  for (int64_t offset = 0; offset < bytes; offset += kCacheLineBytes) __builtin_prefetch(first + offset);
}

}  // namespace oft::sdk
