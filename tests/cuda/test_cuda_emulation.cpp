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
