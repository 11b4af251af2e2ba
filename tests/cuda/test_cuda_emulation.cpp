// The CUDA emulation that test_kernel_emulation.cpp runs the kernels on: builtins, barriers, the threads'
// orders, shared memory and the launch checks, with small kernels of its own.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "cuda_emulation.h"

namespace emu = oft::test::emulation;

namespace {

__global__ void record_indices(unsigned* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[block * blockDim.x * blockDim.y * blockDim.z + thread] = block * 1000 + thread;
}

TEST(CudaEmulation, EveryThreadOfEveryBlockRunsWithItsIndices) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  std::vector<unsigned> out(12 * 24, 0);
  for (const emu::Order order : emu::kAllOrders) {
    emu::launch(grid, block, 0, {order, 7}, record_indices, out.data());
    for (unsigned b = 0; b < 12; ++b)
      for (unsigned t = 0; t < 24; ++t) ASSERT_EQ(out[b * 24 + t], b * 1000 + t);
  }
}

// Each thread reads its neighbour's value from shared memory, after a barrier or (wrongly) without one.
__global__ void rotate_left(const float* in, bool sync, float* out) {
  OFT_DYNAMIC_SHARED(float, shared);
  const unsigned t = threadIdx.x;
  shared[t] = in[blockIdx.x * blockDim.x + t];
  if (sync) __syncthreads();
  out[blockIdx.x * blockDim.x + t] = shared[(t + 1) % blockDim.x];
}

std::vector<float> run_rotate_left(emu::Order order, bool sync) {
  std::vector<float> in(2 * 64), out(2 * 64);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  emu::launch(2, 64, 64 * sizeof(float), {order, 3}, rotate_left, in.data(), sync, out.data());
  return out;
}

TEST(CudaEmulation, ABarrierOrdersSharedMemoryAccesses) {
  for (const emu::Order order : emu::kAllOrders) {
    const std::vector<float> out = run_rotate_left(order, true);
    for (unsigned i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<float>(i / 64 * 64 + (i + 1) % 64));
  }
}

// Without the barrier, in any order some thread runs before its neighbour and reads unwritten shared
// memory (NaN): the bug shows.
TEST(CudaEmulation, AMissingBarrierChangesTheResult) {
  for (const emu::Order order : emu::kAllOrders) {
    const std::vector<float> out = run_rotate_left(order, false);
    EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](float v) { return std::isnan(v); }));
  }
}

__global__ void divergent_barrier() {
  if (threadIdx.x % 2 == 0) __syncthreads();
}

TEST(CudaEmulation, ABarrierInDivergentCodeFails) {
  EXPECT_THROW(emu::launch(1, 32, 0, {}, divergent_barrier), std::runtime_error);
}

__global__ void sum_all(const float* in, float* total) { atomicAdd(total, in[blockIdx.x * blockDim.x + threadIdx.x]); }

TEST(CudaEmulation, AtomicAddSumsOverBlocks) {
  std::vector<float> in(4 * 32, 0.5f);
  float total = 0.0f;
  emu::launch(4, 32, 0, {}, sum_all, in.data(), &total);
  EXPECT_EQ(total, 64.0f);
}

// A butterfly reduction: every lane ends with its warp's sum.
__global__ void warp_sums(const float* in, float* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = in[i];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  out[i] = v;
}

TEST(CudaEmulation, WarpShufflesExchangeWithinEachWarp) {
  std::vector<float> in(2 * 64), out(2 * 64);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  for (const emu::Order order : emu::kAllOrders) {
    emu::launch(2, 64, 0, {order, 5}, warp_sums, in.data(), out.data());
    for (unsigned i = 0; i < out.size(); ++i) {
      const unsigned first = i / 32 * 32;  // sum of first .. first + 31
      ASSERT_EQ(out[i], static_cast<float>(32 * first + 496)) << i;
    }
  }
}

__global__ void shuffle_after_exit() {
  if (threadIdx.x == 3) return;
  __shfl_xor_sync(0xffffffffu, 1, 1);
}

TEST(CudaEmulation, AShuffleWithoutAllItsLanesFails) {
  EXPECT_THROW(emu::launch(1, 32, 0, {}, shuffle_after_exit), std::runtime_error);
}

// One warp's mma.sync m16n8k16: each lane packs its A and B fragments from row-major matrices by PTX's table
// (warp_mma.cuh) and writes its four sums back by it; the warp's D must be the matrix product (small integers: every
// sum is exact in any order).
__global__ void warp_product(const float* a, const float* b, float* d) {
  const unsigned lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const auto bits = [](float v) { return static_cast<uint32_t>(__nv_bfloat16_raw(__float2bfloat16_rn(v)).x); };
  const auto pair = [&](float low, float high) { return bits(low) | bits(high) << 16; };
  const auto at = [&](unsigned m, unsigned k) { return a[m * 16 + k]; };
  const auto bt = [&](unsigned k, unsigned n) { return b[k * 8 + n]; };
  const uint32_t fa[4] = {pair(at(g, 2 * t), at(g, 2 * t + 1)), pair(at(g + 8, 2 * t), at(g + 8, 2 * t + 1)),
                          pair(at(g, 2 * t + 8), at(g, 2 * t + 9)), pair(at(g + 8, 2 * t + 8), at(g + 8, 2 * t + 9))};
  const uint32_t fb[2] = {pair(bt(2 * t, g), bt(2 * t + 1, g)), pair(bt(2 * t + 8, g), bt(2 * t + 9, g))};
  float sums[4] = {1.0f, 1.0f, 1.0f, 1.0f};  // C = 1 everywhere: D = A B + C
  emulated_mma_m16n8k16<__nv_bfloat16>(sums, fa, fb);
  d[g * 8 + 2 * t] = sums[0];
  d[g * 8 + 2 * t + 1] = sums[1];
  d[(g + 8) * 8 + 2 * t] = sums[2];
  d[(g + 8) * 8 + 2 * t + 1] = sums[3];
}

TEST(CudaEmulation, WarpMatrixProductFollowsPtxFragmentLayout) {
  std::vector<float> a(16 * 16), b(16 * 8), d(16 * 8);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(static_cast<int>(i * 7 % 13) - 6);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(static_cast<int>(i * 5 % 11) - 5);
  for (const emu::Order order : emu::kAllOrders) {
    emu::launch(1, 32, 0, {order, 9}, warp_product, a.data(), b.data(), d.data());
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 8; ++n) {
        float expected = 1.0f;
        for (int k = 0; k < 16; ++k) expected += a[m * 16 + k] * b[k * 8 + n];
        ASSERT_EQ(d[m * 8 + n], expected) << "D[" << m << "][" << n << "]";
      }
  }
}

__global__ void mma_after_exit() {
  if (threadIdx.x == 3) return;
  float sums[4] = {};
  const uint32_t fa[4] = {}, fb[2] = {};
  emulated_mma_m16n8k16<__half>(sums, fa, fb);
}

TEST(CudaEmulation, AWarpInstructionWithoutAllItsLanesFails) {
  EXPECT_THROW(emu::launch(1, 32, 0, {}, mma_after_exit), std::runtime_error);
}

// A static __shared__ array is one per block: written by some threads, read by all after the barrier.
__global__ void static_shared(float* out) {
  __shared__ float table[4];
  if (threadIdx.x < 4) table[threadIdx.x] = static_cast<float>(blockIdx.x * 10 + threadIdx.x);
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = table[threadIdx.x % 4];
}

TEST(CudaEmulation, StaticSharedArraysAreSharedByTheBlock) {
  std::vector<float> out(3 * 32);
  emu::launch(3, 32, 0, {emu::Order::kReverse}, static_shared, out.data());
  for (unsigned i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<float>(i / 32 * 10 + i % 4)) << i;
}

__global__ void nothing() {}

TEST(CudaEmulation, LaunchesCudaWouldRejectFail) {
  EXPECT_THROW(emu::launch(1, 1025, 0, {}, nothing), std::runtime_error);
  EXPECT_THROW(emu::launch(dim3(1, 65536), 1, 0, {}, nothing), std::runtime_error);
  EXPECT_THROW(emu::launch(0, 32, 0, {}, nothing), std::runtime_error);
  EXPECT_THROW(emu::launch(1, 32, emu::kDefaultSharedBytes + 4, {}, nothing), std::runtime_error);
  emu::Options opted_in;
  opted_in.max_shared_bytes = emu::kOptInSharedBytes;
  EXPECT_NO_THROW(emu::launch(1, 32, emu::kDefaultSharedBytes + 4, opted_in, nothing));
}

__global__ void throws() {
  if (threadIdx.x == 5) throw std::logic_error("kernel failed");
  __syncthreads();
}

TEST(CudaEmulation, AnExceptionInAKernelReachesTheLauncher) {
  EXPECT_THROW(emu::launch(2, 32, 0, {}, throws), std::logic_error);
  emu::launch(1, 32, 0, {}, nothing);  // and the emulation still works
}

}  // namespace
