// sdk::tiled_dequantized_linear with a stand-in dequantizer that copies rows of a dense W: every output row
// is computed once, tiles start where the plugin needs them, both tile layouts, bias, compute dtype, input
// shapes and dtypes, and when a forward may take it at all.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::sdk {
namespace {

// Outputs of an fp32 layer of 300 inputs that span three tiles, the last a short one (whatever the tile size).
int64_t three_tiles_of_300_inputs() {
  const int64_t rows = tiled_linear_rows(300, at::kFloat);
  return 2 * rows + rows / 2;
}

double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
  const at::Tensor a = actual.to(at::kDouble), e = expected.to(at::kDouble);
  return (a - e).abs().max().item<double>() / std::max(e.abs().max().item<double>(), 1e-12);
}

struct Tiles {
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> seen;  // (first, count), in any order (tiles run in parallel)
  std::set<std::thread::id> threads;              // the threads that dequantized them
};

// y through the helper, W's rows copied into each tile in `layout`, converted to the tile's dtype.
at::Tensor tiled(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, c10::ScalarType dtype,
                 TileLayout layout, int64_t alignment, Tiles* tiles = nullptr) {
  return tiled_dequantized_linear(x, bias, w.size(0), dtype, layout, alignment,
                                  [&](int64_t first, int64_t count, const at::Tensor& tile) {
                                    EXPECT_TRUE(tile.is_contiguous());
                                    EXPECT_EQ(tile.scalar_type(), dtype);
                                    const at::Tensor rows = w.narrow(0, first, count);
                                    tile.copy_(layout == TileLayout::kOutByIn ? rows : rows.t());
                                    if (tiles) {
                                      const std::lock_guard<std::mutex> lock(tiles->mutex);
                                      tiles->seen.emplace_back(first, count);
                                      tiles->threads.insert(std::this_thread::get_id());
                                    }
                                  });
}

TEST(TiledDequantizedLinear, EqualsTheDenseProductInBothLayouts) {
  at::manual_seed(0);
  // 1000 rows of 300 floats: 436 rows per 512 KiB tile, so three tiles, the last one short.
  const at::Tensor w = at::randn({1000, 300}), b = at::randn({1000});
  // Token counts on both sides of the GEMM's change of orientation for tiles of W.
  for (TileLayout layout : {TileLayout::kOutByIn, TileLayout::kInByOut})
    for (int64_t tokens : {int64_t{1}, int64_t{5}, kTiledLinearTokensByOutMaxTokens,
                           kTiledLinearTokensByOutMaxTokens + 1, kTiledLinearMaxTokens}) {
      SCOPED_TRACE(testing::Message() << "layout " << static_cast<int>(layout) << ", " << tokens << " tokens");
      const at::Tensor x = at::randn({tokens, 300});
      EXPECT_LT(relative_error(tiled(x, w, b, at::kFloat, layout, 1), at::linear(x, w, b)), 1e-6);
      EXPECT_LT(relative_error(tiled(x, w, at::Tensor(), at::kFloat, layout, 1), at::linear(x, w)), 1e-6);
    }
}

TEST(TiledDequantizedLinear, ComputesEachRowOnceInAlignedTiles) {
  at::manual_seed(0);
  const at::Tensor w = at::randn({three_tiles_of_300_inputs(), 300});
  for (int64_t alignment : {1, 8, 64}) {
    SCOPED_TRACE(testing::Message() << "alignment " << alignment);
    Tiles tiles;
    tiled(at::randn({3, 300}), w, at::Tensor(), at::kFloat, TileLayout::kInByOut, alignment, &tiles);
    std::sort(tiles.seen.begin(), tiles.seen.end());
    ASSERT_GT(tiles.seen.size(), 1u);
    int64_t next = 0;
    for (const auto& [first, count] : tiles.seen) {
      EXPECT_EQ(first, next);
      EXPECT_EQ(first % alignment, 0);
      EXPECT_GT(count, 0);
      next = first + count;
    }
    EXPECT_EQ(next, w.size(0));
  }
}

TEST(TiledDequantizedLinear, ComputesInTheGivenDtypeAndReturnsTheInputsDtypeAndShape) {
  at::manual_seed(0);
  const at::Tensor w = at::randn({96, 64}), b = at::randn({96});
  const at::Tensor x = at::randn({2, 3, 64}).to(at::kBFloat16);
  const at::Tensor y = tiled(x, w, b, at::kFloat, TileLayout::kOutByIn, 1);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 96}));
  EXPECT_LT(relative_error(y, at::linear(x.to(at::kFloat), w, b)), 8e-3);  // one bf16 rounding
  // In bf16: the tile, the input and the bias rounded to it, as at::linear in bf16 would have them.
  const at::Tensor x32 = at::randn({4, 64});
  const at::Tensor y16 = tiled(x32, w, b, at::kBFloat16, TileLayout::kInByOut, 1);
  EXPECT_EQ(y16.scalar_type(), at::kFloat);
  const at::Tensor expected = at::linear(x32.to(at::kBFloat16), w.to(at::kBFloat16), b.to(at::kBFloat16));
  EXPECT_LT(relative_error(y16, expected.to(at::kFloat)), 1e-2);
}

// The tiles share LibTorch's intra-op threads: this fails where the build leaves ATen's parallel_for serial
// (code compiled without OpenMP, sdk/cmake/OftTorchCpu.cmake), which halved the few-token speed on 2 cores.
TEST(TiledDequantizedLinear, RunsTilesOnLibTorchsThreads) {
  const int threads_before = at::get_num_threads();
  at::set_num_threads(2);
  at::manual_seed(0);
  Tiles tiles;
  const at::Tensor w = at::randn({three_tiles_of_300_inputs(), 300}), x = at::randn({1, 300});
  const at::Tensor y = tiled(x, w, at::Tensor(), at::kFloat, TileLayout::kOutByIn, 1, &tiles);
  at::set_num_threads(threads_before);
  EXPECT_EQ(tiles.seen.size(), 3u);
  EXPECT_EQ(tiles.threads.size(), 2u);
  EXPECT_LT(relative_error(y, at::linear(x, w)), 1e-6);
}

// Under InferenceMode across several tiles (the result is an inference tensor). The tiles run on worker
// threads, which must see the caller's InferenceMode.
TEST(TiledDequantizedLinear, RunsUnderInferenceModeAcrossTiles) {
  at::manual_seed(0);
  const int64_t out = three_tiles_of_300_inputs();
  const at::Tensor w = at::randn({out, 300}), b = at::randn({out}), x = at::randn({3, 300});
  const c10::InferenceMode inference;
  for (TileLayout layout : {TileLayout::kOutByIn, TileLayout::kInByOut})
    EXPECT_LT(relative_error(tiled(x, w, b, at::kFloat, layout, 1), at::linear(x, w, b)), 1e-6);
}

TEST(TiledDequantizedLinear, TilesAreAnL2CacheWithinBoundsOrWhatOftTileBytesSays) {
  EXPECT_EQ(tiled_linear_tile_bytes_for(nullptr, 2 << 20), 2 << 20);
  EXPECT_EQ(tiled_linear_tile_bytes_for(nullptr, 1 << 20), 1 << 20);
  EXPECT_EQ(tiled_linear_tile_bytes_for(nullptr, 32 << 20), kTiledLinearMaxTileBytes);
  EXPECT_EQ(tiled_linear_tile_bytes_for(nullptr, 256 << 10), kTiledLinearMinTileBytes);
  EXPECT_EQ(tiled_linear_tile_bytes_for(nullptr, 0), kTiledLinearMinTileBytes);  // unknown
  EXPECT_EQ(tiled_linear_tile_bytes_for("65536", 2 << 20), 65536);
  for (const char* bad : {"", "64k", "100", "-524288", "4294967296"}) {
    try {
      tiled_linear_tile_bytes_for(bad, 2 << 20);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("OFT_TILE_BYTES"), std::string::npos) << e.what();
    }
  }
  // ctest runs the suite with OFT_TILE_BYTES=524288 (tests/CMakeLists.txt): its layers span the same tiles everywhere.
  EXPECT_EQ(tiled_linear_tile_bytes(),
            tiled_linear_tile_bytes_for(std::getenv("OFT_TILE_BYTES"), sysconf(_SC_LEVEL2_CACHE_SIZE)));
}

TEST(TiledDequantizedLinear, AppliesToFewCpuTokensWithoutAGradientThroughThem) {
  EXPECT_TRUE(tiled_linear_applies(at::randn({1, 8})));
  EXPECT_TRUE(tiled_linear_applies(at::randn({2, kTiledLinearMaxTokens / 2, 8})));
  EXPECT_FALSE(tiled_linear_applies(at::randn({kTiledLinearMaxTokens + 1, 8})));
  EXPECT_FALSE(tiled_linear_applies(at::randn({0, 8})));
  EXPECT_FALSE(tiled_linear_applies(at::randn({4, 0})));
  EXPECT_FALSE(tiled_linear_applies(at::empty({1, 8}, at::TensorOptions().device(at::kMeta))));
  const at::Tensor needs_grad = at::randn({1, 8}).requires_grad_();
  EXPECT_FALSE(tiled_linear_applies(needs_grad));
  const at::Tensor trained_bias = at::randn({4}).requires_grad_();
  EXPECT_FALSE(tiled_linear_applies(at::randn({1, 8}), trained_bias));
  EXPECT_TRUE(tiled_linear_applies(at::randn({1, 8}), at::randn({4})));
  at::NoGradGuard no_grad;
  EXPECT_TRUE(tiled_linear_applies(needs_grad));
  EXPECT_TRUE(tiled_linear_applies(at::randn({1, 8}), trained_bias));
}

}  // namespace
}  // namespace oft::sdk
