// PEFT's block-size adjustment (values from running PEFT's adjust_oft_parameters) and
// our refusal of layouts that degenerate to block size 1.
#include <gtest/gtest.h>

#include "oft/adapter/block_layout.h"
#include "oft/errors.h"

namespace oft {
namespace {

TEST(NearestDivisor, MatchesPeftTable) {
  struct Row {
    int64_t d, p, expected;
  };
  for (const Row& row : {Row{10, 3, 2}, Row{10, 4, 5}, Row{10, 32, 10}, Row{45, 4, 3}, Row{11, 4, 1},
                         Row{4096, 100, 128}, Row{4096, 48, 32}, Row{768, 100, 96}, Row{45, 8, 9}, Row{20, 6, 5}})
    EXPECT_EQ(nearest_divisor(row.d, row.p), row.expected) << "d=" << row.d << " p=" << row.p;
}

TEST(ResolveBlockLayout, FromRAndFromBlockSize) {
  auto from_r = resolve_block_layout(10, 2, 0, "lin0");
  EXPECT_EQ(from_r.num_blocks, 2);
  EXPECT_EQ(from_r.block_size, 5);
  auto from_b = resolve_block_layout(45, 0, 9, "conv");
  EXPECT_EQ(from_b.num_blocks, 5);
  EXPECT_EQ(from_b.block_size, 9);
  auto adjusted = resolve_block_layout(20, 0, 6, "lin");  // PEFT adjusts 6 -> 5 with a warning
  EXPECT_EQ(adjusted.block_size, 5);
  EXPECT_EQ(adjusted.num_blocks, 4);
  auto capped = resolve_block_layout(10, 0, 32, "lin");
  EXPECT_EQ(capped.block_size, 10);
  EXPECT_EQ(capped.num_blocks, 1);
}

TEST(ResolveBlockLayout, BlockSizeOneIsAnErrorNotASilentIdentity) {
  EXPECT_THROW(resolve_block_layout(11, 0, 4, "prime"), ConfigError);  // PEFT: b=1, zero parameters
  EXPECT_THROW(resolve_block_layout(8, 8, 0, "r_equals_d"), ConfigError);
  try {
    resolve_block_layout(11, 0, 4, "model.layers.0.q_proj");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.q_proj"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("block size 1"), std::string::npos);
  }
}

TEST(ResolveBlockLayout, NeedsExactlyOneOfRAndBlockSize) {
  EXPECT_THROW(resolve_block_layout(16, 2, 8, "x"), ConfigError);
  EXPECT_THROW(resolve_block_layout(16, 0, 0, "x"), ConfigError);
}

}  // namespace
}  // namespace oft
