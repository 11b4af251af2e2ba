#pragma once
// How a layer's feature dimension d is cut into OFT blocks: PEFT's rule (r XOR oft_block_size,
// adjusted to the nearest divisor of d with a warning), except that a layout that degenerates to
// block size 1 (no rotation at all) is an error instead of a silent identity adapter.
#include <cstdint>
#include <string>

#include "oft/export.h"

namespace oft {

struct BlockLayout {
  int64_t num_blocks = 0;  // r
  int64_t block_size = 0;  // b, with r * b == d
};

// PEFT's adjust_oft_parameters: the divisor of d nearest to p (ties go to the smaller one); d if p >= d.
OFT_CORE_API int64_t nearest_divisor(int64_t d, int64_t p);

// Layout for a layer with d features given the config's r and oft_block_size (exactly one non-zero).
// `layer_name` only labels warnings and errors.
OFT_CORE_API BlockLayout resolve_block_layout(int64_t d, int64_t r, int64_t oft_block_size,
                                              const std::string& layer_name);

}  // namespace oft
