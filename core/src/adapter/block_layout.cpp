#include "oft/adapter/block_layout.h"

#include "oft/errors.h"
#include "oft/log.h"

namespace oft {

int64_t nearest_divisor(int64_t d, int64_t p) {
  if (p >= d) return d;
  int64_t higher = p;
  while (higher <= d && d % higher != 0) ++higher;
  int64_t lower = p;
  while (lower > 1 && d % lower != 0) --lower;
  return (p - lower) <= (higher - p) ? lower : higher;
}

BlockLayout resolve_block_layout(int64_t d, int64_t r, int64_t oft_block_size, const std::string& layer_name) {
  if (d <= 0)
    throw UsageError("OFT layer '" + layer_name + "' has no features to rotate (d = " + std::to_string(d) + ")");
  BlockLayout layout;
  if (r == 0 && oft_block_size > 0) {
    int64_t b = oft_block_size;
    if (d % b != 0 || b > d) {
      b = nearest_divisor(d, b);
      logger()->warn("Invalid `oft_block_size` ({})! Adjusted `oft_block_size` to ({}). [{}]", oft_block_size, b,
                     layer_name);
    }
    layout = {d / b, b};
  } else if (r > 0 && oft_block_size == 0) {
    int64_t blocks = r;
    if (d % blocks != 0 || blocks > d) {
      blocks = nearest_divisor(d, blocks);
      logger()->warn("Invalid `r` ({})! Adjusted `r` to ({}). [{}]", r, blocks, layer_name);
    }
    layout = {blocks, d / blocks};
  } else {
    throw ConfigError("OFT layer '" + layer_name + "': exactly one of r (" + std::to_string(r) +
                      ") and oft_block_size (" + std::to_string(oft_block_size) + ") must be non-zero");
  }
  if (layout.block_size < 2)
    throw ConfigError("OFT layer '" + layer_name + "' has " + std::to_string(d) + " features; r=" + std::to_string(r) +
                      ", oft_block_size=" + std::to_string(oft_block_size) +
                      " gives block size 1, which rotates nothing (PEFT would silently add an identity adapter). "
                      "Choose a block size >= 2 that divides " +
                      std::to_string(d) + " or exclude this layer.");
  return layout;
}

}  // namespace oft
