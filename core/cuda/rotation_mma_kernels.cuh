#pragma once
// Tensor-core forms of rotate_kernel and rotate_grad_kernel (rotation_kernels.cuh) for bf16 and fp16 activations in
// OFT blocks of 32 or 64, on sm_80 and later. The CUDA-core kernels compute 2 x 32 fp32 products per element and
// direction; at H200 speeds that arithmetic alone takes as long as moving the activations, so those kernels cannot
// reach the memory floor. Here the products run on the tensor cores (warp_mma.cuh):
//  - y = x . R (and dx = dY . R^T): R is split into three pieces in x's dtype, R = hi + mid + lo. In bf16 the pieces
//    hold all 24 bits of R's fp32 significand; in fp16 they hold R to 2^-25 absolute (pieces below 2^-14 lose bits as
//    subnormals), far below the output's rounding for rotations, whose entries are within about [-1, 1] (an entry of
//    65504 or more would overflow the fp16 piece: rotate_rows takes any blocks, OFT's are rotations).
//  - dR = X^T dY: the products of two bf16 (fp16) values are exact in fp32.
// Each mma sums 16 exact products with the tensor cores' own (truncating) alignment and starts from zero; the kernels
// add its result to their sums in fp32. So the values are those of fp32 arithmetic in another order, up to the
// tensor cores' rounding inside each 16-product sum. tests/cuda/test_kernel_emulation.cpp runs both kernels on the
// CPU with an emulated mma.sync (cuda_emulation.h, which sums in order with fp32 rounding: a model of the hardware's
// adder, not a copy).
#include <cstdint>

#include "rotation_kernels.cuh"
#include "warp_mma.cuh"

namespace oft::cuda {
namespace {

constexpr int kRPieces = 3;
constexpr int kWarps = kThreads / 32;
// CUDA blocks of the kernels resident per multiprocessor (their __launch_bounds__: at most 128 registers a thread).
constexpr int kMmaBlocksPerMultiprocessor = 2;
// Waves of CUDA blocks a grid holds: every block builds R's fragments (or ends with its atomics) once, which favours
// few; the last wave's blocks run while others idle, which favours several.
constexpr int kMmaWaves = 4;

// Grid rows for `units` of work per OFT block: about kMmaWaves waves of the GPU's resident blocks in all.
inline unsigned mma_grid_rows(int64_t units, int64_t oft_blocks, int multiprocessors) {
  const int64_t wanted = int64_t{multiprocessors} * kMmaBlocksPerMultiprocessor * kMmaWaves;
  return static_cast<unsigned>(
      std::clamp<int64_t>((wanted + oft_blocks - 1) / oft_blocks, 1, std::min<int64_t>(units, 65535)));
}

// Whether these kernels take the activations: 16-bit elements, blocks of 32 or 64, 16-byte aligned rows.
inline bool mma_rotation_fits(int element_bytes, int b, int features, const void* a, const void* c) {
  return element_bytes == 2 && (b == 32 || b == 64) && vector_access_fits(element_bytes, b, features, a, c);
}

// The mma's k and n are free to permute as long as A and B agree: the forward gives a lane's fragments columns it
// moves in one 16-byte access. Column of x (row of R) that k-step `step` of 16 gives its logical k: a lane's four k
// (2t, 2t+1, 2t+8, 2t+9) of k-steps 2s and 2s+1 are the 8 consecutive columns 32s + 8t ... 32s + 8t + 7.
__device__ inline int input_column(int step, int k) {
  const int t = k % 8 / 2, position = k % 2 + (k >= 8 ? 2 : 0);
  return step / 2 * 32 + t * 8 + step % 2 * 4 + position;
}
// Column of y (and of R) that n-tile `tile` of 8 gives its logical n: a lane's outputs (2t, 2t+1) of n-tiles 4s ...
// 4s + 3 are the 8 consecutive columns 32s + 8t ... 32s + 8t + 7.
__device__ inline int output_column(int tile, int n) { return tile / 4 * 32 + n / 2 * 8 + tile % 4 * 2 + n % 2; }

// B fragments of R's pieces, per (piece, k-step, n-tile) the 32 lanes' two registers: what each warp reads per mma.
// Each thread loads its entries' four values of R at once (the loop's trip count is known: launched with exactly
// kThreads threads) and splits each into the pieces, each piece the rounding of what the ones before it leave.
template <class T, int kB>
__device__ inline void build_r_fragments(const float* block, bool transpose, uint2* fragments) {
  constexpr int kSteps = kB / 16, kTiles = kB / 8, kEntries = kSteps * kTiles * 32;
  OFT_UNROLL
  for (int e = static_cast<int>(threadIdx.x); e < kEntries; e += kThreads) {
    const int lane = e % 32, tile = e / 32 % kTiles, step = e / (32 * kTiles);
    const int n = output_column(tile, lane / 4), t = lane % 4;
    float left[4];  // B[2t, 2t+1][g], then B[2t+8, 2t+9][g]: what the pieces so far leave of them
    OFT_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int k = input_column(step, 2 * t + 8 * (i / 2) + i % 2);
      left[i] = transpose ? block[n * kB + k] : block[k * kB + n];
    }
    OFT_UNROLL
    for (int piece = 0; piece < kRPieces; ++piece) {
      T part[4];
      OFT_UNROLL
      for (int i = 0; i < 4; ++i) {
        part[i] = from_float<T>(left[i]);
        left[i] -= to_float(part[i]);  // exact: part is left rounded
      }
      fragments[piece * kEntries + e] = uint2{pack_pair(part[0], part[1]), pack_pair(part[2], part[3])};
    }
  }
}

// sums[j] = the warp's 16 rows times n-tile 4 * out_group + j of R's fragments: rows[h][s] is the lane's 16 bytes
// of row g + 8h, columns 32s + 8t ... 32s + 8t + 7 (the A fragments of k-steps 2s and 2s + 1).
template <class T, int kB>
__device__ inline void multiply_rows(const uint4 (&rows)[2][kB / 32], const uint2* fragments, int lane, int out_group,
                                     float (&sums)[4][4]) {
  constexpr int kSteps = kB / 16, kTiles = kB / 8;
  OFT_UNROLL
  for (int j = 0; j < 4; ++j) sums[j][0] = sums[j][1] = sums[j][2] = sums[j][3] = 0.0f;
  OFT_UNROLL
  for (int step = 0; step < kSteps; ++step) {
    const uint4& low = rows[0][step / 2];
    const uint4& high = rows[1][step / 2];
    const bool second = step % 2 == 1;
    const uint32_t a[4] = {second ? low.z : low.x, second ? high.z : high.x, second ? low.w : low.y,
                           second ? high.w : high.y};
    OFT_UNROLL
    for (int piece = 0; piece < kRPieces; ++piece) {
      OFT_UNROLL
      for (int j = 0; j < 4; ++j) {
        const uint2 f = fragments[((piece * kSteps + step) * kTiles + out_group * 4 + j) * 32 + lane];
        const uint32_t b[2] = {f.x, f.y};
        float part[4] = {};
        mma_m16n8k16<T>(part, a, b);
        OFT_UNROLL
        for (int i = 0; i < 4; ++i) sums[j][i] += part[i];
      }
    }
  }
}

// Row g + 8h of multiply_rows' sums, rounded to T: the lane's 8 consecutive outputs in one 16-byte store at dst.
template <class T>
__device__ inline void store_row(const float (&sums)[4][4], int h, T* dst) {
  uint32_t words[4];
  OFT_UNROLL
  for (int j = 0; j < 4; ++j) words[j] = pack_pair(from_float<T>(sums[j][2 * h]), from_float<T>(sums[j][2 * h + 1]));
  store16(dst, uint4{words[0], words[1], words[2], words[3]});
}

// Rows of 16 tokens a warp loads before its products: four 16-byte loads per lane in flight.
template <int kB>
constexpr int kChunksPerPass = 64 / kB;

// Grid: x = OFT block k, y strides over groups of kWarps * kChunksPerPass chunks of 16 token rows. Each warp loads
// its chunks' rows straight into A fragments (lane g, t: rows g and g + 8, columns 8t ... 8t + 7 of each 32) and
// stores y from its sums the same way; R's fragments sit in shared memory. Launched with exactly kThreads threads.
template <class T, int kB>
__global__ void OFT_LAUNCH_BOUNDS(kThreads, kMmaBlocksPerMultiprocessor)
    rotate_mma_kernel(const T* x, const float* blocks, int64_t tokens, int features, bool shared_block, bool transpose,
                      T* y) {
  constexpr int kGroups = kB / 32, kChunks = kChunksPerPass<kB>;
  OFT_DYNAMIC_SHARED(float, shared);
  uint2* fragments = reinterpret_cast<uint2*>(shared);
  const int k = blockIdx.x;
  build_r_fragments<T, kB>(blocks + (shared_block ? 0 : static_cast<size_t>(k) * kB * kB), transpose, fragments);
  __syncthreads();
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t chunks = (tokens + 15) / 16, step_over = static_cast<int64_t>(gridDim.y) * kWarps * kChunks;
  const size_t column = static_cast<size_t>(k) * kB + 8 * t;
  for (int64_t first = (static_cast<int64_t>(blockIdx.y) * kWarps + warp) * kChunks; first < chunks;
       first += step_over) {
    uint4 in[kChunks][2][kGroups];  // [chunk][row g, g + 8][32 columns]
    OFT_UNROLL
    for (int u = 0; u < kChunks; ++u) {
      OFT_UNROLL
      for (int h = 0; h < 2; ++h) {
        const int64_t row = (first + u) * 16 + g + 8 * h;
        OFT_UNROLL
        for (int s = 0; s < kGroups; ++s)
          in[u][h][s] = row < tokens ? load16(x + static_cast<size_t>(row) * features + column + 32 * s) : uint4{};
      }
    }
    OFT_UNROLL
    for (int u = 0; u < kChunks; ++u) {
      OFT_UNROLL
      for (int out_group = 0; out_group < kGroups; ++out_group) {
        float sums[4][4];
        multiply_rows<T, kB>(in[u], fragments, lane, out_group, sums);
        OFT_UNROLL
        for (int h = 0; h < 2; ++h) {
          const int64_t row = (first + u) * 16 + g + 8 * h;
          if (row < tokens) store_row(sums, h, y + static_cast<size_t>(row) * features + column + 32 * out_group);
        }
      }
    }
  }
}

// Token rows of rotate_backward_mma_kernel's tiles: 8 KiB of x and 8 KiB of dY, four 16-byte loads per thread.
template <int kB>
constexpr int kGradTileRows = 4096 / kB;
// Tile row pitch in elements: 16 bytes past the row, so that the rows one warp reads start in different banks.
template <int kB>
constexpr int kGradTileStride = kB + 8;
template <int kB>
constexpr size_t kFragmentBytes = sizeof(uint2) * kRPieces*(kB / 16) * (kB / 8) * 32;

// Grid: x = OFT block k, y = token splits. The backward of y = x . R from one read of x and dY:
//  - dR_k = X_k^T dY_k with the tokens as the mma's k: a lane's four k of each 16 rows are the rows t, t + 4, t + 8,
//    t + 12 (in different banks). Each warp owns a 32 x 32 quarter of dR (b = 64) or all of it (b = 32) and every
//    kWarps / quarters-th 16 rows of a tile. The warps' sums meet in shared memory at the end and each element is
//    added to the fp32 gradient once per CUDA block.
//  - dx = dY . R^T (when dx is not null), as rotate_mma_kernel computes it, with dY's rows from the shared tile: each
//    warp one of the tile's (16 rows, 32 output columns).
// The tiles come through shared memory, the next one loaded into registers while the current one is multiplied.
// Launched with exactly kThreads threads.
template <class T, int kB>
__global__ void OFT_LAUNCH_BOUNDS(kThreads, kMmaBlocksPerMultiprocessor)
    rotate_backward_mma_kernel(const T* x, const T* dy, const float* blocks, int64_t tokens, int features,
                               bool shared_block, float* grad_blocks, T* dx) {
  constexpr int kRows = kGradTileRows<kB>, kStride = kGradTileStride<kB>, kPerRow = kB / 8, kGroups = kB / 32;
  constexpr int kQuarters = kGroups * kGroups, kWarpsPerQuarter = kWarps / kQuarters;
  constexpr int kVectors = 2 * kRows * kPerRow / kThreads;  // per thread and tile: 4
  static_assert(kRows / 16 * kGroups == kWarps, "dx: one (16 rows, 32 columns) piece of a tile per warp");
  OFT_DYNAMIC_SHARED(float, shared);
  uint2* fragments = reinterpret_cast<uint2*>(shared);
  T* xs = reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(shared) + (dx ? kFragmentBytes<kB> : 0));
  T* gs = xs + kRows * kStride;
  const int k = blockIdx.x;
  if (dx) build_r_fragments<T, kB>(blocks + (shared_block ? 0 : static_cast<size_t>(k) * kB * kB), true, fragments);
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  const int quarter = warp % kQuarters, row_base = quarter / kGroups * 32, col_base = quarter % kGroups * 32;
  const int64_t tiles = (tokens + kRows - 1) / kRows;
  const size_t column = static_cast<size_t>(k) * kB;
  // Vector v of a tile: x's (v < kRows * kPerRow) or dY's, row-major, 8 elements each; zero past the last token.
  const auto fetch = [&](int64_t tile, uint4(&next)[kVectors]) {
    OFT_UNROLL
    for (int i = 0; i < kVectors; ++i) {
      const int v = static_cast<int>(threadIdx.x) + i * kThreads, w = v % (kRows * kPerRow);
      const int64_t row = tile * kRows + w / kPerRow;
      const T* source = v < kRows * kPerRow ? x : dy;
      next[i] =
          row < tokens ? load16(source + static_cast<size_t>(row) * features + column + w % kPerRow * 8) : uint4{};
    }
  };
  float sums[2][4][4] = {};  // [m-tile][n-tile] of the warp's quarter of dR
  uint4 next[kVectors];
  int64_t tile = blockIdx.y;
  if (tile < tiles) fetch(tile, next);
  for (; tile < tiles; tile += gridDim.y) {
    __syncthreads();  // the last tile's products are done with xs and gs (and the fragments are built)
    OFT_UNROLL
    for (int i = 0; i < kVectors; ++i) {
      const int v = static_cast<int>(threadIdx.x) + i * kThreads, w = v % (kRows * kPerRow);
      store16((v < kRows * kPerRow ? xs : gs) + w / kPerRow * kStride + w % kPerRow * 8, next[i]);
    }
    __syncthreads();
    if (tile + gridDim.y < tiles) fetch(tile + gridDim.y, next);
    if (dx) {
      const int first = warp / kGroups * 16, out_group = warp % kGroups;
      uint4 rows[2][kGroups];
      OFT_UNROLL
      for (int h = 0; h < 2; ++h) {
        OFT_UNROLL
        for (int s = 0; s < kGroups; ++s) rows[h][s] = load16(gs + (first + g + 8 * h) * kStride + 32 * s + 8 * t);
      }
      float out[4][4];
      multiply_rows<T, kB>(rows, fragments, lane, out_group, out);
      OFT_UNROLL
      for (int h = 0; h < 2; ++h) {
        const int64_t row = tile * kRows + first + g + 8 * h;
        if (row < tokens) store_row(out, h, dx + static_cast<size_t>(row) * features + column + 32 * out_group + 8 * t);
      }
    }
    for (int first = warp / kQuarters * 16; first < kRows; first += kWarpsPerQuarter * 16) {
      const T* xr = xs + (first + t) * kStride;
      const T* gr = gs + (first + t) * kStride;
      uint32_t a[2][4], b[4][2];
      OFT_UNROLL
      for (int mt = 0; mt < 2; ++mt) {
        OFT_UNROLL
        for (int r = 0; r < 4; ++r) {  // rows g, g + 8 of tokens (t, t + 4), then of (t + 8, t + 12)
          const int m = row_base + 16 * mt + g + 8 * (r % 2), at = 8 * (r / 2) * kStride + m;
          a[mt][r] = pack_pair(xr[at], xr[at + 4 * kStride]);
        }
      }
      OFT_UNROLL
      for (int nt = 0; nt < 4; ++nt) {
        OFT_UNROLL
        for (int r = 0; r < 2; ++r) {
          const int at = 8 * r * kStride + col_base + 8 * nt + g;
          b[nt][r] = pack_pair(gr[at], gr[at + 4 * kStride]);
        }
      }
      OFT_UNROLL
      for (int mt = 0; mt < 2; ++mt) {
        OFT_UNROLL
        for (int nt = 0; nt < 4; ++nt) {
          float part[4] = {};
          mma_m16n8k16<T>(part, a[mt], b[nt]);
          OFT_UNROLL
          for (int i = 0; i < 4; ++i) sums[mt][nt][i] += part[i];
        }
      }
    }
  }
  __syncthreads();          // the tiles are spent: shared memory takes the warps' sums
  float* partial = shared;  // (kWarpsPerQuarter, kB, kB)
  float* mine = partial + warp / kQuarters * kB * kB;
  OFT_UNROLL
  for (int mt = 0; mt < 2; ++mt) {
    OFT_UNROLL
    for (int nt = 0; nt < 4; ++nt) {
      OFT_UNROLL
      for (int i = 0; i < 4; ++i)
        mine[(row_base + 16 * mt + g + 8 * (i / 2)) * kB + col_base + 8 * nt + 2 * t + i % 2] = sums[mt][nt][i];
    }
  }
  __syncthreads();
  float* grad = grad_blocks + (shared_block ? 0 : static_cast<size_t>(k) * kB * kB);
  for (int e = threadIdx.x; e < kB * kB; e += blockDim.x) {
    float total = 0.0f;
    for (int w = 0; w < kWarpsPerQuarter; ++w) total += partial[w * kB * kB + e];
    atomicAdd(grad + e, total);
  }
}

template <int kB>
inline LaunchShape rotate_mma_shape_for(int64_t tokens, int features, int multiprocessors) {
  const int64_t groups = ((tokens + 15) / 16 + kWarps * kChunksPerPass<kB> - 1) / (kWarps * kChunksPerPass<kB>);
  const int64_t oft_blocks = features / kB;
  return {dim3(static_cast<unsigned>(oft_blocks), mma_grid_rows(groups, oft_blocks, multiprocessors)), kThreads,
          kFragmentBytes<kB>};
}

template <int kB>
inline LaunchShape rotate_backward_mma_shape_for(int64_t tokens, int features, bool with_dx, int multiprocessors) {
  const int64_t tiles = (tokens + kGradTileRows<kB> - 1) / kGradTileRows<kB>;
  const int64_t oft_blocks = features / kB;
  const size_t tile_bytes = 2 * sizeof(uint16_t) * kGradTileRows<kB> * kGradTileStride<kB>;
  const size_t sum_bytes = sizeof(float) * (kWarps / ((kB / 32) * (kB / 32))) * kB * kB;
  return {dim3(static_cast<unsigned>(oft_blocks), mma_grid_rows(tiles, oft_blocks, multiprocessors)), kThreads,
          std::max((with_dx ? kFragmentBytes<kB> : 0) + tile_bytes, sum_bytes)};
}

// Launch shapes of the two kernels for blocks of b (32 or 64, mma_rotation_fits) on a GPU of `multiprocessors`.
inline LaunchShape rotate_mma_shape(int64_t tokens, int features, int b, int multiprocessors) {
  return b == 32 ? rotate_mma_shape_for<32>(tokens, features, multiprocessors)
                 : rotate_mma_shape_for<64>(tokens, features, multiprocessors);
}
inline LaunchShape rotate_backward_mma_shape(int64_t tokens, int features, int b, bool with_dx, int multiprocessors) {
  return b == 32 ? rotate_backward_mma_shape_for<32>(tokens, features, with_dx, multiprocessors)
                 : rotate_backward_mma_shape_for<64>(tokens, features, with_dx, multiprocessors);
}

}  // namespace
}  // namespace oft::cuda
