// sdk/products_in_16_lanes.h on CPUs with AVX-512F: sixteen bytes widened to lanes, each nibble's value picked from a
// 16-entry table (the bits above the code ignored), and the fixed order in which a register's lanes are summed; the
// width of the one-token products' passes.
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "oft/sdk/products_in_16_lanes.h"

namespace oft::sdk {
namespace {

TEST(WidePassColumns, WidestThatDividesTheOutputsAndGivesEveryThreadAPass) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  EXPECT_EQ(wide_pass_columns(4096), 256);
  EXPECT_EQ(wide_pass_columns(5632), 256);  // 22 passes
  EXPECT_EQ(wide_pass_columns(384), 128);   // not a multiple of 256
  EXPECT_EQ(wide_pass_columns(256), 128);   // one pass of 256 would leave a thread idle
  EXPECT_EQ(wide_pass_columns(192), 64);
  EXPECT_EQ(wide_pass_columns(64), 64);
  at::set_num_threads(1);
  EXPECT_EQ(wide_pass_columns(256), 256);
  at::set_num_threads(threads);
}

#ifdef OFT_SDK_X86_ROUNDING
using Lanes16 = std::array<float, 16>;

__attribute__((target("avx512f"))) Lanes16 stored(__m512 v) {
  Lanes16 out;
  _mm512_storeu_ps(out.data(), v);
  return out;
}

// The table's values (distinct), and each byte's high and low nibble's values through the sixteen-lane lookup.
__attribute__((target("avx512f"))) std::array<Lanes16, 2> looked_up(const Lanes16& table,
                                                                    const std::array<uint8_t, 16>& bytes) {
  const __m512 t = _mm512_loadu_ps(table.data());
  const __m512i wide = bytes_in_16_lanes(bytes.data());
  return {stored(code_values_in_16_lanes<4>(t, wide)), stored(code_values_in_16_lanes<0>(t, wide))};
}

__attribute__((target("avx512f"))) float summed_in_16_lanes(const Lanes16& v) {
  return lane_sum_in_16_lanes(_mm512_loadu_ps(v.data()));
}

TEST(CodeLookup16Lanes, PicksEachNibblesValueFromTheTable) {
  if (!cpu_has_avx512f()) GTEST_SKIP() << "this CPU lacks AVX-512F: sixteen-lane products do not run here";
  Lanes16 table;
  for (int i = 0; i < 16; ++i) table[i] = 0.25f * static_cast<float>(i * i) - 3.0f;
  std::mt19937 random(7);
  for (int round = 0; round < 64; ++round) {
    std::array<uint8_t, 16> bytes;
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(random());
    const auto [high, low] = looked_up(table, bytes);
    for (int lane = 0; lane < 16; ++lane) {
      EXPECT_EQ(high[lane], table[bytes[lane] >> 4]) << "byte " << int{bytes[lane]};
      EXPECT_EQ(low[lane], table[bytes[lane] & 15]) << "byte " << int{bytes[lane]};
    }
  }
}

TEST(CodeLookup16Lanes, SumsLanesInAFixedOrder) {
  if (!cpu_has_avx512f()) GTEST_SKIP() << "this CPU lacks AVX-512F: sixteen-lane products do not run here";
  // Magnitudes far apart, so that any other order of the additions gives other bits.
  Lanes16 v;
  for (int i = 0; i < 16; ++i) v[i] = std::ldexp(i % 2 ? -1.0f : 1.0f, (i * 7) % 40 - 20) * (1.0f + 0.1f * i);
  float a[8];
  for (int i = 0; i < 8; ++i) a[i] = v[i] + v[i + 8];
  const float expected = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
  EXPECT_EQ(std::bit_cast<uint32_t>(summed_in_16_lanes(v)), std::bit_cast<uint32_t>(expected));
}
#endif

}  // namespace
}  // namespace oft::sdk
