#pragma once
// CUDA execution on the CPU, for tests: kernel headers (*.cuh) compile as plain C++ with this header included
// first, and emulation::launch runs a kernel over its grid. Each CUDA thread of a block is a fiber, and the
// block has a heap buffer of exactly the launch's dynamic shared bytes, filled with NaN (ASan sees an
// overflow, a result sees an unwritten read). The threads take turns: each runs alone until its next
// __syncthreads or warp shuffle, in an order the test picks, so a missing barrier changes the result instead
// of depending on timing, and results are deterministic. Blocks run one after another, so a kernel's static
// __shared__ arrays become function statics. A warp shuffle exchanges values once every lane of its mask has
// arrived. Not emulated: concurrency between blocks (so a plain += where atomicAdd is needed goes unnoticed),
// the memory model, warp-synchronous code without a *_sync call.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

namespace oft::test::emulation {

// The order in which the threads of a block run between two barriers, and the blocks of the grid run.
enum class Order { kForward, kReverse, kShuffled };
// Tests run each launch in every order: a missing barrier then shows as a difference.
inline constexpr Order kAllOrders[] = {Order::kForward, Order::kReverse, Order::kShuffled};
// For test traces.
inline const char* describe(Order order) {
  return order == Order::kReverse ? "threads in reverse order"
                                  : (order == Order::kShuffled ? "threads shuffled" : "threads in order");
}

// Dynamic shared memory a kernel may have: by default, and after cudaFuncSetAttribute (A100's maximum).
constexpr size_t kDefaultSharedBytes = 48 * 1024;
constexpr size_t kOptInSharedBytes = 163 * 1024;

struct Options {
  Order order = Order::kForward;
  uint32_t seed = 0;  // kShuffled: a fresh permutation per barrier, from this seed
  size_t max_shared_bytes = kDefaultSharedBytes;
};

// Runs `body` as every thread of a grid x block launch; throws std::runtime_error for a launch CUDA would
// reject or a block whose threads pass different numbers of __syncthreads.
void run_grid(dim3 grid, dim3 block, size_t shared_bytes, const Options& options, const std::function<void()>& body);

template <class Kernel, class... Args>
void launch(dim3 grid, dim3 block, size_t shared_bytes, const Options& options, Kernel kernel, Args... args) {
  run_grid(grid, block, shared_bytes, options, [&] { kernel(args...); });
}

// Kernel-side entry points (the macros and builtins below use them).
void* dynamic_shared_memory();
void sync_block();
uint64_t shuffle_xor(unsigned mask, uint64_t value, int lane_mask, int width);
// A whole warp's values at once: every lane gives `bytes` at `mine` and gets all 32 lanes' in `all` (lane i's at
// all + i * bytes), once every lane has arrived. What a warp-wide instruction such as mma.sync sees.
void exchange_warp(const void* mine, void* all, size_t bytes);
// The running thread's lane in its warp.
unsigned lane();

}  // namespace oft::test::emulation

// CUDA's builtin variables, set for the emulated thread that runs.
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;

// One instance per kernel, which the block's threads share (the CUDA headers above define it empty).
#undef __shared__
#define __shared__ static
#define OFT_DYNAMIC_SHARED(type, name) \
  type* const name = static_cast<type*>(oft::test::emulation::dynamic_shared_memory())

inline void __syncthreads() { oft::test::emulation::sync_block(); }

inline float atomicAdd(float* address, float value) { return std::atomic_ref<float>(*address).fetch_add(value); }

template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(uint64_t));
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = oft::test::emulation::shuffle_xor(mask, bits, lane_mask, width);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16} with core/cuda/warp_mma.cuh's fragments (PTX ISA layout): this
// lane's D += A . B, its four sums in fp32 from the exact products, k in order. A model of the tensor cores' adder,
// which aligns and truncates instead of rounding each sum: the kernels start each mma from zero, so that only its
// 16 products differ.
template <class T>
void emulated_mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>);
  struct Fragments {
    uint32_t a[4], b[2];
  };
  Fragments mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}}, all[32];
  oft::test::emulation::exchange_warp(&mine, all, sizeof(Fragments));
  const auto value = [](uint32_t word, int k) {
    const uint16_t bits = static_cast<uint16_t>(word >> (16 * (k % 2)));
    if constexpr (std::is_same_v<T, __half>) {
      __half_raw raw;
      raw.x = bits;
      return __half2float(__half(raw));
    } else {
      __nv_bfloat16_raw raw;
      raw.x = bits;
      return __bfloat162float(__nv_bfloat16(raw));
    }
  };
  // A[m][k] and B[k][n] from the lanes that hold them.
  const auto a_at = [&](int m, int k) { return value(all[m % 8 * 4 + k % 8 / 2].a[m / 8 + 2 * (k / 8)], k); };
  const auto b_at = [&](int k, int n) { return value(all[n * 4 + k % 8 / 2].b[k / 8], k); };
  const int g = static_cast<int>(oft::test::emulation::lane()) / 4,
            t = static_cast<int>(oft::test::emulation::lane()) % 4;
  for (int i = 0; i < 4; ++i) {
    const int m = g + 8 * (i / 2), n = 2 * t + i % 2;
    float sum = d[i];
    for (int k = 0; k < 16; ++k) sum += a_at(m, k) * b_at(k, n);
    d[i] = sum;
  }
}

// CUDA's device min/max overloads, for one argument type.
template <class T>
requires std::is_arithmetic_v<T> T min(T a, T b) { return b < a ? b : a; }

template <class T>
requires std::is_arithmetic_v<T> T max(T a, T b) { return a < b ? b : a; }
