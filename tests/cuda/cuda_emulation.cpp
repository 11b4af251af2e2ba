// Each emulated CUDA thread is a fiber (ucontext) on the launching thread: a switch costs well under a
// microsecond, where handing a turn between OS threads cost about ten, and there are 256 threads per block
// and up to ~200 barriers per kernel. The fibers are announced to ASan, so that its stack checks hold (its
// one-time warning that it does not fully support swapcontext is about unannounced switches).
#include "cuda_emulation.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace oft::test::emulation {
namespace {

#if defined(__SANITIZE_ADDRESS__)
void start_switch(void** fake_stack, const void* bottom, size_t size) {
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
}
void finish_switch(void* fake_stack, const void** bottom, size_t* size) {
  __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
}
#else
void start_switch(void**, const void*, size_t) {}
void finish_switch(void*, const void**, size_t*) {}
#endif

// A fiber's stack, with an inaccessible page below it: an overflow faults instead of corrupting memory.
class Stack {
 public:
  static constexpr size_t kBytes = 256 * 1024;  // the kernels need little; ASan's redzones take more
  Stack() : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    base_ = mmap(nullptr, page_ + kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base_ == MAP_FAILED || mprotect(base_, page_, PROT_NONE) != 0)
      throw std::runtime_error("emulation: cannot map a fiber stack");
  }
  ~Stack() { munmap(base_, page_ + kBytes); }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  void* bottom() const { return static_cast<char*>(base_) + page_; }

 private:
  size_t page_;
  void* base_;
};

enum class State { kReady, kAtBarrier, kAtShuffle, kAtExchange, kExited };

constexpr unsigned kWarpSize = 32;

struct Fiber {
  ucontext_t context{};
  uint3 index{};
  unsigned lane = 0;
  State state = State::kReady;
  unsigned barriers = 0;
  unsigned shuffle_mask = 0;  // at a shuffle: its arguments, then its result
  unsigned shuffle_source = 0;
  uint64_t shuffle_value = 0;
  const void* exchange_mine = nullptr;  // at a warp exchange: its arguments
  void* exchange_all = nullptr;
  size_t exchange_bytes = 0;
  void* fake_stack = nullptr;  // ASan's, while switched out
  Stack stack;
};

// One run_grid call: the scheduler's context, the fibers of the block that runs, its shared memory.
struct Launch {
  dim3 grid, block, block_index;
  const std::function<void()>* body = nullptr;
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::unique_ptr<unsigned char[]> shared;
  ucontext_t scheduler{};
  const void* scheduler_stack = nullptr;  // ASan: the scheduler's stack, learnt at the first switch
  size_t scheduler_stack_size = 0;
  Fiber* running = nullptr;
  std::exception_ptr error;
};

thread_local Launch* current = nullptr;

void resume(Launch& l, Fiber& f) {
  l.running = &f;
  threadIdx = f.index;
  blockIdx = l.block_index;
  blockDim = l.block;
  gridDim = l.grid;
  void* fake_stack = nullptr;
  start_switch(&fake_stack, f.stack.bottom(), Stack::kBytes);
  swapcontext(&l.scheduler, &f.context);
  finish_switch(fake_stack, nullptr, nullptr);
}

// Back to the scheduler; returns when the fiber is resumed (never once it has exited).
void suspend(Launch& l, Fiber& f) {
  start_switch(f.state == State::kExited ? nullptr : &f.fake_stack, l.scheduler_stack, l.scheduler_stack_size);
  swapcontext(&f.context, &l.scheduler);
  finish_switch(f.fake_stack, &l.scheduler_stack, &l.scheduler_stack_size);
}

void fiber_main() {
  Launch& l = *current;
  Fiber& f = *l.running;
  finish_switch(nullptr, &l.scheduler_stack, &l.scheduler_stack_size);
  try {
    (*l.body)();
  } catch (...) {
    if (!l.error) l.error = std::current_exception();
  }
  f.state = State::kExited;
  suspend(l, f);
}

std::string str(dim3 d) {
  return "(" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + ")";
}

void check_launch(dim3 grid, dim3 block, size_t shared_bytes, const Options& options) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  std::string why;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0) why = "an empty grid or block";
  if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) why = "grid " + str(grid) + " beyond CUDA's limits";
  if (block.x > 1024 || block.y > 1024 || block.z > 64 || threads > 1024)
    why = "block " + str(block) + " beyond CUDA's limits";
  if (shared_bytes > options.max_shared_bytes)
    why = std::to_string(shared_bytes) + " bytes of dynamic shared memory (at most " +
          std::to_string(options.max_shared_bytes) + ")";
  if (!why.empty()) throw std::runtime_error("emulated launch: " + why);
}

std::vector<size_t> permutation(size_t n, Order order, std::mt19937& rng) {
  std::vector<size_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  if (order == Order::kReverse) std::reverse(p.begin(), p.end());
  if (order == Order::kShuffled) std::shuffle(p.begin(), p.end(), rng);
  return p;
}

// Completes the shuffles of the warps whose lanes (those of the mask) have all arrived; false if none could.
bool complete_shuffles(Launch& l) {
  bool any = false;
  for (size_t first = 0; first < l.fibers.size(); first += kWarpSize) {
    const size_t lanes = std::min<size_t>(kWarpSize, l.fibers.size() - first);
    const auto lane = [&](size_t i) -> Fiber& { return *l.fibers[first + i]; };
    unsigned mask = 0;
    for (size_t i = 0; i < lanes; ++i)
      if (lane(i).state == State::kAtShuffle) mask = lane(i).shuffle_mask;
    bool arrived = mask != 0;
    for (size_t i = 0; i < kWarpSize && arrived; ++i)
      if (mask >> i & 1) arrived = i < lanes && lane(i).state == State::kAtShuffle && lane(i).shuffle_mask == mask;
    if (!arrived) continue;
    std::vector<uint64_t> values(lanes);
    for (size_t i = 0; i < lanes; ++i) values[i] = lane(i).shuffle_value;
    for (size_t i = 0; i < lanes; ++i) {
      Fiber& f = lane(i);
      if (!(mask >> i & 1)) continue;
      if (!(mask >> f.shuffle_source & 1))
        throw std::runtime_error("emulated shuffle: lane " + std::to_string(i) + " reads lane " +
                                 std::to_string(f.shuffle_source) + ", outside the mask");
      f.shuffle_value = values[f.shuffle_source];
      f.state = State::kReady;
    }
    any = true;
  }
  return any;
}

// Completes the exchanges of the warps whose 32 lanes have all arrived with the same size; false if none could.
bool complete_exchanges(Launch& l) {
  bool any = false;
  for (size_t first = 0; first + kWarpSize <= l.fibers.size(); first += kWarpSize) {
    const auto lane = [&](size_t i) -> Fiber& { return *l.fibers[first + i]; };
    bool arrived = true;
    for (size_t i = 0; i < kWarpSize && arrived; ++i)
      arrived = lane(i).state == State::kAtExchange && lane(i).exchange_bytes == lane(0).exchange_bytes;
    if (!arrived) continue;
    const size_t bytes = lane(0).exchange_bytes;
    for (size_t i = 0; i < kWarpSize; ++i)
      for (size_t j = 0; j < kWarpSize; ++j)
        std::memcpy(static_cast<unsigned char*>(lane(i).exchange_all) + j * bytes, lane(j).exchange_mine, bytes);
    for (size_t i = 0; i < kWarpSize; ++i) lane(i).state = State::kReady;
    any = true;
  }
  return any;
}

// Runs the block's fibers, each until its next barrier, shuffle or end, round after round.
void run_block(Launch& l, size_t shared_bytes, const Options& options, std::mt19937& rng) {
  l.shared.reset(new unsigned char[std::max<size_t>(shared_bytes, 1)]);  // exactly the launch's bytes, for ASan
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t at = 0; at + sizeof(float) <= shared_bytes; at += sizeof(float))
    std::memcpy(l.shared.get() + at, &nan, sizeof(float));
  for (auto& f : l.fibers) {
    f->state = State::kReady;
    f->barriers = 0;
    getcontext(&f->context);
    f->context.uc_stack.ss_sp = f->stack.bottom();
    f->context.uc_stack.ss_size = Stack::kBytes;
    f->context.uc_link = nullptr;
    makecontext(&f->context, fiber_main, 0);
  }
  while (true) {
    for (const size_t i : permutation(l.fibers.size(), options.order, rng)) {
      Fiber& f = *l.fibers[i];
      if (f.state != State::kReady) continue;
      resume(l, f);
      if (l.error) std::rethrow_exception(l.error);  // the other fibers are dropped where they stand
    }
    const bool shuffled = complete_shuffles(l);
    if (complete_exchanges(l) || shuffled) continue;
    // Every thread waits or has exited: the barrier opens if all that wait are at it.
    const auto at = [&](State s) {
      return std::count_if(l.fibers.begin(), l.fibers.end(), [s](const auto& f) { return f->state == s; });
    };
    if (at(State::kAtShuffle) > 0 || at(State::kAtExchange) > 0)
      throw std::runtime_error("emulated block " + str(l.block_index) +
                               ": a warp shuffle or warp-wide instruction whose lanes do not all arrive (diverged, "
                               "exited or at a barrier)");
    if (at(State::kAtBarrier) == 0) break;
    for (auto& f : l.fibers)
      if (f->state == State::kAtBarrier) f->state = State::kReady;
  }
  const auto [fewest, most] = std::minmax_element(
      l.fibers.begin(), l.fibers.end(), [](const auto& a, const auto& b) { return a->barriers < b->barriers; });
  if ((*fewest)->barriers != (*most)->barriers)
    throw std::runtime_error("emulated block " + str(l.block_index) + ": its threads passed " +
                             std::to_string((*fewest)->barriers) + " to " + std::to_string((*most)->barriers) +
                             " __syncthreads (a barrier in divergent code)");
}

}  // namespace

void run_grid(dim3 grid, dim3 block, size_t shared_bytes, const Options& options, const std::function<void()>& body) {
  check_launch(grid, block, shared_bytes, options);
  if (current != nullptr) throw std::logic_error("emulation: run_grid called from a kernel");
  Launch l;
  l.grid = grid;
  l.block = block;
  l.body = &body;
  for (unsigned z = 0; z < block.z; ++z)
    for (unsigned y = 0; y < block.y; ++y)
      for (unsigned x = 0; x < block.x; ++x) {  // CUDA's linear thread order: x fastest
        l.fibers.push_back(std::make_unique<Fiber>());
        l.fibers.back()->index = uint3{x, y, z};
        l.fibers.back()->lane = static_cast<unsigned>((l.fibers.size() - 1) % kWarpSize);
      }
  std::vector<dim3> blocks;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) blocks.emplace_back(x, y, z);
  std::mt19937 rng(options.seed);
  current = &l;
  try {
    for (const size_t i : permutation(blocks.size(), options.order, rng)) {
      l.block_index = blocks[i];
      run_block(l, shared_bytes, options, rng);
    }
  } catch (...) {
    current = nullptr;
    throw;
  }
  current = nullptr;
}

void* dynamic_shared_memory() { return current->shared.get(); }

void sync_block() {
  Fiber& f = *current->running;
  ++f.barriers;
  f.state = State::kAtBarrier;
  suspend(*current, f);
}

// CUDA: a lane past its group of `width` reads its own value.
uint64_t shuffle_xor(unsigned mask, uint64_t value, int lane_mask, int width) {
  Fiber& f = *current->running;
  if (!(mask >> f.lane & 1)) throw std::runtime_error("emulated shuffle: the calling lane is not in its mask");
  const unsigned source = f.lane ^ static_cast<unsigned>(lane_mask);
  const unsigned group_end = (f.lane / static_cast<unsigned>(width) + 1) * static_cast<unsigned>(width);
  f.shuffle_mask = mask;
  f.shuffle_source = source < group_end ? source : f.lane;
  f.shuffle_value = value;
  f.state = State::kAtShuffle;
  suspend(*current, f);
  return f.shuffle_value;
}

void exchange_warp(const void* mine, void* all, size_t bytes) {
  Fiber& f = *current->running;
  if (current->fibers.size() % kWarpSize != 0)
    throw std::runtime_error("emulated warp-wide instruction in a block of partial warps");
  f.exchange_mine = mine;
  f.exchange_all = all;
  f.exchange_bytes = bytes;
  f.state = State::kAtExchange;
  suspend(*current, f);
}

unsigned lane() { return current->running->lane; }

}  // namespace oft::test::emulation
