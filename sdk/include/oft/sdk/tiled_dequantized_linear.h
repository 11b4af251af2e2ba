#pragma once
// y = x · Wᵀ + bias for a few tokens (decoding) with W held only quantized. Dequantizing all of W for every
// forward writes and reads back 2-4 bytes per weight, several times the cost of the GEMV itself; here W is
// dequantized a tile of output rows at a time into a buffer that stays in cache, and each tile is multiplied
// right away. The plugin supplies the tile dequantizer, so each tile holds exactly the values its full
// dequantization gives: outputs differ from the dense path only in the GEMM's summation order.
//
// Header-only, not part of the plugin ABI (tests/abi leaves it out): each plugin compiles its own copy.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <c10/core/GradMode.h>
#include <c10/core/ScalarType.h>

namespace oft::sdk {

// Up to this many tokens the tiled product is used (decoding, small batches, short prompts). Every tile reads
// all of x again, so for long inputs one dequantization feeding one large GEMM wins: measured at 4096x4096 on
// 2 cores, the tiled forward of a 4-bit layer was faster at 64 and 128 tokens and slower at 512.
constexpr int64_t kTiledLinearMaxTokens = 128;
// A tile's dequantized bytes: a core's L2 cache (glibc's sysconf), within these bounds (the lower one where the
// size is unknown), so a tile is still in cache for its GEMM, and each GEMM, which packs x again, covers as many
// rows as that allows. 4-bit gptq at 4096x4096 on an Intel Xeon with 2 MiB of L2, 16 / 64 tokens: 512 KiB tiles
// 1.25-1.29x / 1.35-1.36x dense, 1 MiB 1.12-1.13x / 1.17-1.20x, 2 MiB 1.11-1.13x / 1.11-1.14x, 4 MiB 1.07-1.11x /
// 1.12-1.13x (on an AMD EPYC at 1 and 16 tokens 256 KiB to 1 MiB measured within noise of each other).
constexpr int64_t kTiledLinearMinTileBytes = 512 * 1024;
constexpr int64_t kTiledLinearMaxTileBytes = 2048 * 1024;

// The tile bytes for an OFT_TILE_BYTES value (null where unset: l2_bytes within the bounds above, or the lower
// bound where l2_bytes <= 0 says it is unknown). OFT_TILE_BYTES, a whole number of bytes from 4 KiB to 1 GiB, pins
// the size (the tests pin 512 KiB, so their layers span the same tiles on every CPU); anything else throws
// std::invalid_argument naming it.
inline int64_t tiled_linear_tile_bytes_for(const char* override_bytes, int64_t l2_bytes) {
  if (override_bytes == nullptr)
    return std::clamp(l2_bytes > 0 ? l2_bytes : kTiledLinearMinTileBytes, kTiledLinearMinTileBytes,
                      kTiledLinearMaxTileBytes);
  char* end = nullptr;
  errno = 0;
  const long long bytes = std::strtoll(override_bytes, &end, 10);
  if (end == override_bytes || *end != '\0' || errno != 0 || bytes < 4096 || bytes > (int64_t{1} << 30))
    throw std::invalid_argument(std::string("OFT_TILE_BYTES is \"") + override_bytes +
                                "\", expected a whole number of bytes from 4096 to 1073741824");
  return bytes;
}

// This process's tile bytes (OFT_TILE_BYTES and the L2 size are read once).
inline int64_t tiled_linear_tile_bytes() {
  static const int64_t bytes = [] {
    int64_t l2 = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return tiled_linear_tile_bytes_for(std::getenv("OFT_TILE_BYTES"), l2);
  }();
  return bytes;
}

// How the plugin's dequantizer lays out a tile of output rows [first, first + count) of W (out, in).
enum class TileLayout {
  kOutByIn,  // (count, in): row r is W's row first + r (formats that store W row by row)
  kInByOut,  // (in, count): Wᵀ's columns (formats that store Wᵀ, packed along the input dimension)
};

// Whether a forward may take tiled_dequantized_linear: a CPU input of 1..kTiledLinearMaxTokens tokens, and no
// gradient to compute for x or for the bias added with it (the tiled product is not differentiable; OFT
// training and trained biases take the dense path).
inline bool tiled_linear_applies(const at::Tensor& x, const at::Tensor& bias = at::Tensor()) {
  if (!x.device().is_cpu() || x.dim() == 0 || x.size(-1) == 0) return false;
  const int64_t tokens = x.numel() / x.size(-1);
  const bool needs_grad = x.requires_grad() || (bias.defined() && bias.requires_grad());
  return tokens >= 1 && tokens <= kTiledLinearMaxTokens && !(c10::GradMode::is_enabled() && needs_grad);
}

// Rows of W per tile: about tiled_linear_tile_bytes() of rows of `in` values of `dtype`, a multiple of row_alignment.
inline int64_t tiled_linear_rows(int64_t in, c10::ScalarType dtype, int64_t row_alignment = 1) {
  const int64_t row_bytes = in * static_cast<int64_t>(c10::elementSize(dtype));
  const int64_t rows = std::max<int64_t>(1, tiled_linear_tile_bytes() / std::max<int64_t>(row_bytes, 1));
  return std::max(row_alignment, rows / row_alignment * row_alignment);
}

// What a few-token forward returns once it has y (tokens, out) (or (out) for one token), computed for x (..., in)
// in y's dtype: bias (out, when defined) added in y's dtype, then x's leading sizes and dtype.
inline at::Tensor few_token_result(at::Tensor y, const at::Tensor& x, const at::Tensor& bias) {
  if (bias.defined()) y = y + bias.to(y.scalar_type());
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = y.size(-1);
  return y.reshape(shape).to(x.scalar_type());
}

// The GEMM's orientation per tile. LibTorch's CPU GEMM (MKL) runs 2-5x slower when an operand is a transposed
// view, so each tile multiplies operands that are both row-major: y (tokens, out) = x · tile for tiles of Wᵀ;
// yᵀ (out, tokens) = tile · xᵀ (xᵀ copied once) for tiles of W, except for a few tokens, where x · tileᵀ is
// faster still. µs per 32-row fp32 tile's GEMM at 4096 inputs, one thread of an Intel Xeon (AVX-512):
//   tokens                     4    8   16   64  128
//   W tile · xᵀ (a view)      46   47   46  247  561
//   W tile · xᵀ (copied)      37   36   31  105  236
//   x · W tileᵀ               14   22   82  169  280
//   Wᵀ tileᵀ · xᵀ (views)     47   47   47  252  555
//   x · Wᵀ tile                9   14   26  103  213
constexpr int64_t kTiledLinearTokensByOutMaxTokens = 12;

inline bool tiled_linear_tokens_by_out(TileLayout layout, int64_t tokens) {
  return layout == TileLayout::kInByOut || tokens <= kTiledLinearTokensByOutMaxTokens;
}

// x (..., in) in any dtype, computed in `dtype` (the dtype the plugin's dense path multiplies in); bias
// (out) or undefined, added in `dtype`; the result has x's leading sizes and dtype, like
// at::linear(x.to(dtype), W, bias.to(dtype)).to(x.scalar_type()).
// dequantize_rows(first, count, tile) fills `tile`, a contiguous `dtype` tensor of `layout`'s shape, with
// W's rows [first, first + count). Tiles start at multiples of `row_alignment` (e.g. 8 where eight output
// rows share a packed word); tiles run in parallel, so dequantize_rows must not write shared state.
template <typename DequantizeRows>
at::Tensor tiled_dequantized_linear(const at::Tensor& x, const at::Tensor& bias, int64_t out_features,
                                    c10::ScalarType dtype, TileLayout layout, int64_t row_alignment,
                                    DequantizeRows&& dequantize_rows) {
  const int64_t in = x.size(-1);
  const int64_t tokens = x.numel() / in;
  const bool tokens_by_out = tiled_linear_tokens_by_out(layout, tokens);
  // tokens_by_out: y (tokens, out) = x · Wᵀ tile by tile; otherwise yᵀ (out, tokens) = W · xᵀ.
  const at::Tensor x2 = x.reshape({tokens, in}).to(dtype).contiguous();
  const at::Tensor xt = tokens_by_out ? at::Tensor() : x2.t().contiguous();
  const at::Tensor b = !bias.defined() ? at::Tensor()
                       : tokens_by_out ? bias.to(dtype).reshape({out_features})
                                       : bias.to(dtype).reshape({out_features, 1});
  at::Tensor y =
      tokens_by_out ? at::empty({tokens, out_features}, x2.options()) : at::empty({out_features, tokens}, x2.options());
  const int64_t rows = tiled_linear_rows(in, dtype, row_alignment);
  const int64_t tiles = (out_features + rows - 1) / rows;
  // Worker threads (where ATen's parallel_for runs in parallel: code built with OpenMP) start with default
  // thread-local state: the caller's (InferenceMode, grad mode, dispatch keys) goes with them, or writing into
  // an inference tensor `y` from a worker would throw.
  const at::ThreadLocalState caller_state;
  at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
    const at::ThreadLocalStateGuard state_guard(caller_state);
    // One buffer per task, made at its first full tile; only the last tile of W may be shorter (its own buffer:
    // layout kInByOut has the tile's row count as its inner size).
    const auto shape = [&](int64_t count) {
      return layout == TileLayout::kOutByIn ? std::vector<int64_t>{count, in} : std::vector<int64_t>{in, count};
    };
    at::Tensor buffer;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t first = t * rows;
      const int64_t count = std::min(rows, out_features - first);
      if (count == rows && !buffer.defined()) buffer = at::empty(shape(rows), x2.options());
      at::Tensor tile = count == rows ? buffer : at::empty(shape(count), x2.options());
      dequantize_rows(first, count, tile);
      // The tile as the GEMM's right operand (in, count) or left operand (count, in).
      const at::Tensor w = (layout == TileLayout::kInByOut) == tokens_by_out ? tile : tile.t();
      at::Tensor out = y.narrow(tokens_by_out ? 1 : 0, first, count);
      const at::Tensor& lhs = tokens_by_out ? x2 : w;
      const at::Tensor& rhs = tokens_by_out ? w : xt;
      if (b.defined())
        at::addmm_out(out, b.narrow(0, first, count), lhs, rhs);
      else
        at::mm_out(out, lhs, rhs);
    }
  });
  return few_token_result(tokens_by_out ? y : y.t(), x, at::Tensor());  // the bias is in already
}

}  // namespace oft::sdk
