// liboft_cuda's rotation kernels, their own source (core/cuda/rotation_kernels.cuh) with their launchers'
// shapes, and its gated MLP product (model_kernels.cuh), run on the CPU by the CUDA emulation against rotation_math's
// LibTorch results and autograd, as test_cuda_rotation.cpp checks them on a GPU. Every launch runs with each block's
// threads in forward, reverse and shuffled order between barriers: a missing __syncthreads changes the result. Runs
// without a GPU.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "oft/adapter/rotation_math.h"
#include "rotation_reference.h"
#include "test_support.h"

// The emulation first: the kernel header compiles against it.
#include "cuda_emulation.h"
#include "emulation_tensors.h"

#include "model_kernels.cuh"
#include "rotation_mma_kernels.cuh"

namespace emu = oft::test::emulation;
namespace kernels = oft::cuda;
using emu::unwritten;
using emu::with_element_type;
using oft::test::close;

namespace {

float* f32(const at::Tensor& t) { return t.data_ptr<float>(); }

void check_neumann(int b, int num_terms) {
  SCOPED_TRACE("b = " + std::to_string(b) + ", N = " + std::to_string(num_terms));
  const int blocks = 3, m = b * (b - 1) / 2;
  const auto ref = oft::test::rotation_reference(blocks, b, num_terms, 0.3 / b, b * 10 + num_terms);
  const at::Tensor v = ref.vec.contiguous(), grad = ref.grad, expected = ref.blocks, expected_grad = ref.vec_grad;
  at::Tensor first_r, first_dv;
  for (const emu::Order order : emu::kAllOrders) {
    SCOPED_TRACE(emu::describe(order));
    emu::Options options{order, static_cast<uint32_t>(b)};
    const at::Tensor r = unwritten({blocks, b, b});
    const kernels::LaunchShape forward = kernels::neumann_forward_shape(blocks, b);
    emu::launch(forward.grid, forward.threads, forward.shared_bytes, options, kernels::neumann_forward_kernel, f32(v),
                b, num_terms, f32(r));

    const at::Tensor scratch = unwritten({blocks, b, b}), dv = unwritten({blocks, m});
    const kernels::LaunchShape backward = kernels::neumann_backward_shape(blocks, b);
    options.max_shared_bytes = emu::kOptInSharedBytes;  // launch_neumann_backward opts in beyond 48 KiB
    emu::launch(backward.grid, backward.threads, backward.shared_bytes, options, kernels::neumann_backward_kernel,
                f32(v), f32(grad), b, num_terms, f32(scratch), f32(dv));

    EXPECT_TRUE(close(r, expected, 1e-5, "rotation blocks"));
    EXPECT_TRUE(close(dv, expected_grad, 1e-5, "skew vector gradient"));
    if (!first_r.defined()) {
      first_r = r;
      first_dv = dv;
    }
    EXPECT_TRUE(at::equal(r, first_r) && at::equal(dv, first_dv)) << "the result depends on the threads' order";
  }
}

// Against linalg_solve and its autograd; the backward starts from the emulated forward's rotation, as
// CayleyExact saves it.
void check_cayley(int b, double scale) {
  SCOPED_TRACE("b = " + std::to_string(b) + ", scale = " + std::to_string(scale));
  const int blocks = 2, m = b * (b - 1) / 2;
  const auto ref = oft::test::rotation_reference(blocks, b, /*num_terms=*/0, scale, b);
  const at::Tensor v = ref.vec.contiguous(), grad = ref.grad, expected = ref.blocks, expected_grad = ref.vec_grad;
  at::Tensor first_r, first_dv;
  for (const emu::Order order : emu::kAllOrders) {
    SCOPED_TRACE(emu::describe(order));
    const emu::Options options{order, static_cast<uint32_t>(b)};  // both within 48 KiB: no opt-in
    const at::Tensor r = unwritten({blocks, b, b});
    const kernels::LaunchShape forward = kernels::cayley_forward_shape(blocks, b);
    emu::launch(forward.grid, forward.threads, forward.shared_bytes, options, kernels::cayley_forward_kernel, f32(v), b,
                f32(r));

    const at::Tensor dv = unwritten({blocks, m});
    const kernels::LaunchShape backward = kernels::cayley_backward_shape(blocks, b);
    emu::launch(backward.grid, backward.threads, backward.shared_bytes, options, kernels::cayley_backward_kernel,
                f32(r), f32(grad), b, f32(dv));

    EXPECT_TRUE(close(r, expected, 1e-5, "rotation blocks"));
    EXPECT_TRUE(close(dv, expected_grad, 1e-4, "skew vector gradient"));
    if (!first_r.defined()) {
      first_r = r;
      first_dv = dv;
    }
    EXPECT_TRUE(at::equal(r, first_r) && at::equal(dv, first_dv)) << "the result depends on the threads' order";
  }
}

// As test_cuda_rotation.cpp: the kernel and LibTorch differ in fp32 summation order before the rounding.
double output_tolerance(at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return 1.6e-2;
  if (dtype == at::kHalf) return 2e-3;
  return 1e-5;
}

struct RotateCase {
  at::ScalarType dtype;
  int b;
  int oft_blocks;
  int64_t tokens;
  bool shared;
  unsigned grid_rows;  // 0: the launcher's; fewer than the tiles makes blocks loop over several
};

std::string describe(const RotateCase& c) {
  return std::string(c10::toString(c.dtype)) + ", b = " + std::to_string(c.b) + ", " + std::to_string(c.oft_blocks) +
         " blocks" + (c.shared ? " (shared)" : "") + ", " + std::to_string(c.tokens) + " tokens in tiles of " +
         std::to_string(kernels::tile_rows_for(c.b)) + " (dR: " + std::to_string(kernels::grad_tile_rows_for(c.b)) +
         ")" + (c.grid_rows ? ", " + std::to_string(c.grid_rows) + " grid rows" : "");
}

// y = x . blockdiag(R), and with transpose x . blockdiag(R^T) (the dx of the backward). Random R, not
// rotations near I: R and R^T must differ by more than the rounding of bf16.
void check_rotate(const RotateCase& c, bool transpose) {
  SCOPED_TRACE(describe(c) + (transpose ? ", transposed" : ""));
  const int features = c.oft_blocks * c.b;
  at::manual_seed(c.b * 4 + c.shared);
  const at::Tensor x = at::randn({c.tokens, features}).to(c.dtype);
  const at::Tensor blocks = at::randn({c.shared ? 1 : c.oft_blocks, c.b, c.b});
  const at::Tensor applied = transpose ? blocks.transpose(1, 2).contiguous() : blocks;
  const at::Tensor expected = oft::math::rotate_rows(x.to(at::kFloat), applied).to(c.dtype).to(at::kFloat);

  kernels::LaunchShape shape = kernels::rotate_shape(c.tokens, features, c.b);
  if (c.grid_rows) shape.grid.y = c.grid_rows;
  at::Tensor first;
  for (const bool vectorized : {false, true})
    for (const emu::Order order : emu::kAllOrders) {
      const at::Tensor y = unwritten({c.tokens, features}, c.dtype);
      if (vectorized &&
          !kernels::vector_access_fits(static_cast<int>(x.element_size()), c.b, features, x.data_ptr(), y.data_ptr()))
        continue;
      SCOPED_TRACE(std::string(emu::describe(order)) + (vectorized ? ", 16-byte accesses" : ""));
      with_element_type(c.dtype, [&](auto element) {
        using T = decltype(element);
        emu::launch(shape.grid, shape.threads, shape.shared_bytes, {order, 1}, kernels::rotate_kernel<T>,
                    static_cast<const T*>(x.data_ptr()), f32(blocks), c.tokens, features, c.b, c.shared, transpose,
                    kernels::tile_rows_for(c.b), vectorized, static_cast<T*>(y.data_ptr()));
      });
      EXPECT_TRUE(close(y.to(at::kFloat), expected, output_tolerance(c.dtype), "y"));
      if (!first.defined()) first = y;
      EXPECT_TRUE(at::equal(y, first)) << "the result depends on the threads' order or the access width";
    }
}

// dR = sum over tokens of x_k^T dy_k, accumulated in fp32 from the dtype's inputs; the blocks' atomics
// add in a different order per schedule, so the schedules agree within rounding only.
void check_rotate_grad(const RotateCase& c) {
  SCOPED_TRACE(describe(c));
  const int features = c.oft_blocks * c.b;
  at::manual_seed(c.b * 4 + c.shared + 2);
  const at::Tensor x = at::randn({c.tokens, features}).to(c.dtype);
  const at::Tensor dy = at::randn({c.tokens, features}).to(c.dtype);
  const at::Tensor blocks = at::randn({c.shared ? 1 : c.oft_blocks, c.b, c.b}).requires_grad_();
  const at::Tensor y = oft::math::rotate_rows(x.to(at::kFloat), blocks);
  const at::Tensor expected = torch::autograd::grad({y}, {blocks}, {dy.to(at::kFloat)})[0];

  kernels::LaunchShape shape = kernels::rotate_grad_shape(c.tokens, features, c.b);
  if (c.grid_rows) shape.grid.y = c.grid_rows;
  const bool fits =
      kernels::vector_access_fits(static_cast<int>(x.element_size()), c.b, features, x.data_ptr(), dy.data_ptr());
  for (const bool vectorized : {false, true})
    for (const emu::Order order : emu::kAllOrders) {
      if (vectorized && !fits) continue;
      SCOPED_TRACE(std::string(emu::describe(order)) + (vectorized ? ", 16-byte accesses" : ""));
      const at::Tensor grad = at::zeros_like(blocks);  // launch_rotate_backward's contract: zeroed
      with_element_type(c.dtype, [&](auto element) {
        using T = decltype(element);
        emu::launch(shape.grid, shape.threads, shape.shared_bytes, {order, 2}, kernels::rotate_grad_kernel<T>,
                    static_cast<const T*>(x.data_ptr()), static_cast<const T*>(dy.data_ptr()), c.tokens, features, c.b,
                    c.shared, kernels::grad_tile_rows_for(c.b), vectorized, f32(grad));
      });
      EXPECT_TRUE(close(grad, expected, 1e-4, "dR"));
    }
}

// Tiles of 512 (b = 16, b = 3) and 120 (b = 64) token rows for y, 307, 512 and 90 for dR, the last one
// partial; b = 3 and 30 are padded to whole groups of four columns.
std::vector<RotateCase> rotate_cases() {
  std::vector<RotateCase> cases;
  for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16})
    for (const bool shared : {false, true}) cases.push_back({dtype, 16, 3, 600, shared, 0});
  for (const bool shared : {false, true}) {
    cases.push_back({at::kFloat, 64, 2, 300, shared, 0});
    cases.push_back({at::kFloat, 64, 2, 300, shared, 2});  // block row 0 takes tiles 0 and 2
    cases.push_back({at::kFloat, 3, 4, 3000, shared, 1});  // one block row takes all the tiles
  }
  cases.push_back({at::kBFloat16, 64, 2, 300, false, 2});
  cases.push_back({at::kFloat, 30, 2, 1000, false, 0});
  return cases;
}

TEST(KernelEmulation, CayleyNeumannKernelsMatchRotationMath) {
  for (const int b : {2, 3, 20, 64})
    for (const int num_terms : {2, 3, 6}) check_neumann(b, num_terms);
}

TEST(KernelEmulation, ExactCayleyKernelsMatchRotationMath) {
  for (const int b : {2, 3, 20, 64})
    for (const double scale : {0.3 / b, 3.0}) check_cayley(b, scale);
}

TEST(KernelEmulation, RotateKernelMatchesRotateRows) {
  for (const RotateCase& c : rotate_cases())
    for (const bool transpose : {false, true}) check_rotate(c, transpose);
}

TEST(KernelEmulation, RotateGradKernelMatchesAutograd) {
  for (const RotateCase& c : rotate_cases()) check_rotate_grad(c);
}

// The tensor-core kernels' grids are sized for a GPU of this many multiprocessors (an H200's).
constexpr int kMultiprocessors = 132;

// The tensor-core kernels (emulated mma.sync) against the same references. The forward's products are those of fp32
// arithmetic (R in three pieces), so its outputs are as close to the exact ones as the fp32 reference's (R in two
// pieces would round otherwise than the exact product about every 500th output in bf16, one piece most of them).
// y = x . blockdiag(applied) from a tensor-core kernel (in x's dtype): within the rounding of the dtype of the fp32
// reference, and as close to the exact products (fp64, rounded once) as that reference is: each rounds otherwise
// than the exact value only where its fp32 sum straddles a rounding boundary.
void expect_rounded_as_fp32(const at::Tensor& y, const at::Tensor& x, const at::Tensor& applied) {
  const at::ScalarType dtype = x.scalar_type();
  const at::Tensor out = y.to(at::kFloat);
  const at::Tensor fp32 = oft::math::rotate_rows(x.to(at::kFloat), applied).to(dtype).to(at::kFloat);
  const at::Tensor exact = oft::math::rotate_rows(x.to(at::kDouble), applied.to(at::kDouble)).to(dtype).to(at::kFloat);
  EXPECT_TRUE(close(out, fp32, output_tolerance(dtype), "rotated rows"));
  EXPECT_LE(out.ne(exact).sum().item<int64_t>(), 2 * fp32.ne(exact).sum().item<int64_t>() + out.numel() / 2000)
      << "outputs rounded otherwise than the exact products";
}

void check_rotate_mma(at::ScalarType dtype, int b, bool shared, int64_t tokens, unsigned grid_rows, bool transpose) {
  const int oft_blocks = 3, features = oft_blocks * b;
  SCOPED_TRACE(std::string(c10::toString(dtype)) + ", b = " + std::to_string(b) + (shared ? " (shared)" : "") + ", " +
               std::to_string(tokens) + " tokens" + (grid_rows ? ", " + std::to_string(grid_rows) + " grid rows" : "") +
               (transpose ? ", transposed" : ""));
  at::manual_seed(b + shared + 5);
  const at::Tensor x = at::randn({tokens, features}).to(dtype);
  const at::Tensor blocks = at::randn({shared ? 1 : oft_blocks, b, b});
  const at::Tensor applied = transpose ? blocks.transpose(1, 2).contiguous() : blocks;
  ASSERT_TRUE(kernels::mma_rotation_fits(static_cast<int>(x.element_size()), b, features, x.data_ptr(), x.data_ptr()));
  kernels::LaunchShape shape = kernels::rotate_mma_shape(tokens, features, b, kMultiprocessors);
  if (grid_rows) shape.grid.y = grid_rows;
  at::Tensor first;
  for (const emu::Order order : emu::kAllOrders) {
    SCOPED_TRACE(emu::describe(order));
    const at::Tensor y = unwritten({tokens, features}, dtype);
    with_element_type(dtype, [&](auto element) {
      using T = decltype(element);
      if constexpr (!std::is_same_v<T, float>) {
        const auto kernel = b == 32 ? kernels::rotate_mma_kernel<T, 32> : kernels::rotate_mma_kernel<T, 64>;
        emu::launch(shape.grid, shape.threads, shape.shared_bytes, {order, 3}, kernel,
                    static_cast<const T*>(x.data_ptr()), f32(blocks), tokens, features, shared, transpose,
                    static_cast<T*>(y.data_ptr()));
      }
    });
    expect_rounded_as_fp32(y, x, applied);
    if (!first.defined()) first = y;
    EXPECT_TRUE(at::equal(y, first)) << "the result depends on the threads' order";
  }
}

// The backward kernel: dR (against autograd, summed in fp32 from exact products) and, unless dR alone, dx = dY R^T.
void check_rotate_backward_mma(at::ScalarType dtype, int b, bool shared, int64_t tokens, unsigned grid_rows,
                               bool with_dx) {
  const int oft_blocks = 3, features = oft_blocks * b;
  SCOPED_TRACE(std::string(c10::toString(dtype)) + ", b = " + std::to_string(b) + (shared ? " (shared)" : "") + ", " +
               std::to_string(tokens) + " tokens" + (grid_rows ? ", " + std::to_string(grid_rows) + " grid rows" : "") +
               (with_dx ? ", dx and dR" : ", dR only"));
  at::manual_seed(b + shared + 7);
  const at::Tensor x = at::randn({tokens, features}).to(dtype);
  const at::Tensor dy = at::randn({tokens, features}).to(dtype);
  const at::Tensor blocks = at::randn({shared ? 1 : oft_blocks, b, b}).requires_grad_();
  const at::Tensor y = oft::math::rotate_rows(x.to(at::kFloat), blocks);
  const at::Tensor expected = torch::autograd::grad({y}, {blocks}, {dy.to(at::kFloat)})[0];
  kernels::LaunchShape shape = kernels::rotate_backward_mma_shape(tokens, features, b, with_dx, kMultiprocessors);
  if (grid_rows) shape.grid.y = grid_rows;
  at::Tensor first_dx;
  for (const emu::Order order : emu::kAllOrders) {
    SCOPED_TRACE(emu::describe(order));
    const at::Tensor grad = at::zeros_like(blocks);
    const at::Tensor dx = unwritten({tokens, features}, dtype);
    with_element_type(dtype, [&](auto element) {
      using T = decltype(element);
      if constexpr (!std::is_same_v<T, float>) {
        const auto kernel =
            b == 32 ? kernels::rotate_backward_mma_kernel<T, 32> : kernels::rotate_backward_mma_kernel<T, 64>;
        emu::launch(shape.grid, shape.threads, shape.shared_bytes, {order, 4}, kernel,
                    static_cast<const T*>(x.data_ptr()), static_cast<const T*>(dy.data_ptr()),
                    with_dx ? f32(blocks) : nullptr, tokens, features, shared, f32(grad),
                    with_dx ? static_cast<T*>(dx.data_ptr()) : nullptr);
      }
    });
    EXPECT_TRUE(close(grad, expected, 1e-5, "dR"));
    if (!with_dx) continue;
    expect_rounded_as_fp32(dx, dy, blocks.detach().transpose(1, 2).contiguous());
    if (!first_dx.defined()) first_dx = dx;
    EXPECT_TRUE(at::equal(dx, first_dx)) << "dx depends on the threads' order";
  }
}

// 136 tokens: a partial chunk of 16 rows, two tiles of 128 rows (b = 32) or three of 64 (b = 64), the last partial;
// one grid row makes a block loop over everything. (Each emulated mma is a round of all the block's threads: the
// cases are few and small, as the sanitizer build runs them too.)
TEST(KernelEmulation, TensorCoreRotateKernelMatchesRotateRows) {
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf})
    for (const int b : {32, 64}) {
      check_rotate_mma(dtype, b, /*shared=*/false, 136, 0, /*transpose=*/false);
      check_rotate_mma(dtype, b, /*shared=*/true, 136, 0, /*transpose=*/true);
    }
  check_rotate_mma(at::kBFloat16, 32, false, 136, 1, false);
  check_rotate_mma(at::kHalf, 64, false, 136, 1, true);
}

TEST(KernelEmulation, TensorCoreBackwardKernelMatchesAutograd) {
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf})
    for (const int b : {32, 64}) {
      check_rotate_backward_mma(dtype, b, /*shared=*/false, 136, 0, /*with_dx=*/true);
      check_rotate_backward_mma(dtype, b, /*shared=*/true, 136, 0, /*with_dx=*/false);
    }
  check_rotate_backward_mma(at::kBFloat16, 32, false, 136, 1, true);
  check_rotate_backward_mma(at::kHalf, 64, true, 136, 1, true);
}

// The tensor-core kernels take 16-bit elements in blocks of 32 or 64 with 16-byte aligned rows, and nothing else.
TEST(KernelEmulation, TensorCoreKernelsTakeOnlyTheirShapes) {
  alignas(16) static uint16_t data[2 * 64 * 3];
  EXPECT_TRUE(kernels::mma_rotation_fits(2, 32, 96, data, data));
  EXPECT_TRUE(kernels::mma_rotation_fits(2, 64, 128, data, data));
  EXPECT_FALSE(kernels::mma_rotation_fits(4, 32, 96, data, data));      // fp32
  EXPECT_FALSE(kernels::mma_rotation_fits(2, 16, 96, data, data));      // block of 16
  EXPECT_FALSE(kernels::mma_rotation_fits(2, 48, 96, data, data));      // block of 48
  EXPECT_FALSE(kernels::mma_rotation_fits(2, 32, 96, data + 1, data));  // unaligned rows
}

// The grids the cases above shrink by hand are what the launchers give large inputs (too large to emulate
// here): 64 blocks of 64 and 9000 tokens take fewer dR splits than tiles, and the forward's grid rows stop
// at CUDA's limit of 65535, beyond which its blocks loop over tiles too.
TEST(KernelEmulation, LargeInputsLoopOverTiles) {
  const int b = 64, features = 64 * b;
  const int64_t tiles = (9000 + kernels::grad_tile_rows_for(b) - 1) / kernels::grad_tile_rows_for(b);
  EXPECT_LT(kernels::rotate_grad_shape(9000, features, b).grid.y, tiles);
  EXPECT_EQ(kernels::rotate_shape(int64_t{70000} * kernels::tile_rows_for(b), features, b).grid.y, 65535u);
}

// The kernels' shared memory at every block size they take: within the default 48 KiB, except the
// Cayley-Neumann backward, whose launcher opts in to more.
TEST(KernelEmulation, SharedMemoryFitsEveryBlockSize) {
  for (int b = 2; b <= kernels::kMaxKernelBlockSize; ++b) {
    SCOPED_TRACE("b = " + std::to_string(b));
    EXPECT_LE(kernels::neumann_forward_shape(1, b).shared_bytes, emu::kDefaultSharedBytes);
    EXPECT_LE(kernels::neumann_backward_shape(1, b).shared_bytes, emu::kOptInSharedBytes);
    EXPECT_LE(kernels::cayley_forward_shape(1, b).shared_bytes, emu::kDefaultSharedBytes);
    EXPECT_LE(kernels::cayley_backward_shape(1, b).shared_bytes, emu::kDefaultSharedBytes);
    EXPECT_LE(kernels::rotate_shape(1, b, b).shared_bytes, emu::kDefaultSharedBytes);
    EXPECT_LE(kernels::rotate_grad_shape(1, b, b).shared_bytes, emu::kDefaultSharedBytes);
  }
  for (const int b : {32, 64}) {
    EXPECT_LE(kernels::rotate_mma_shape(1, b, b, kMultiprocessors).shared_bytes, emu::kDefaultSharedBytes);
    for (const bool with_dx : {false, true})
      EXPECT_LE(kernels::rotate_backward_mma_shape(1, b, b, with_dx, kMultiprocessors).shared_bytes,
                emu::kDefaultSharedBytes);
  }
}

// silu(gate) * up and its backward against LibTorch's operators on the CPU (silu, its result rounded, the product;
// silu_backward of dy * up rounded, dy * silu rounded): the same roundings, but the CPU's exp may differ from
// CUDA's in its last bit, so within one rounding of the dtype. The launcher's grid, and one block that loops.
TEST(KernelEmulation, SiluMulAndItsBackwardMatchTheOperators) {
  const int64_t n = 1000;
  for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    at::manual_seed(11);
    const at::Tensor gate = (4 * at::randn({n})).to(dtype), up = at::randn({n}).to(dtype);
    const at::Tensor dy = at::randn({n}).to(dtype);
    const at::Tensor expected = at::silu(gate) * up;
    const at::Tensor expected_dgate = at::silu_backward(dy * up, gate), expected_dup = dy * at::silu(gate);
    const double tolerance = dtype == at::kFloat ? 1e-6 : (dtype == at::kHalf ? 1e-3 : 8e-3);
    for (const bool vectorized : {false, true})
      for (const unsigned blocks :
           {kernels::elementwise_blocks(vectorized ? n * static_cast<int64_t>(gate.element_size()) / 16 : n), 1u}) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + ", " + std::to_string(blocks) + " blocks" +
                     (vectorized ? ", 16-byte accesses" : ""));
        const at::Tensor out = unwritten({n}, dtype), dgate = unwritten({n}, dtype), dup = unwritten({n}, dtype);
        const at::Tensor dgate_alone = unwritten({n}, dtype);
        ASSERT_TRUE(!vectorized || kernels::elementwise_vectors(static_cast<int>(gate.element_size()), n,
                                                                {gate.data_ptr(), up.data_ptr(), dy.data_ptr(),
                                                                 out.data_ptr(), dgate.data_ptr(), dup.data_ptr()}));
        with_element_type(dtype, [&](auto element) {
          using T = decltype(element);
          const auto* g = static_cast<const T*>(gate.data_ptr());
          const auto* u = static_cast<const T*>(up.data_ptr());
          const auto* d = static_cast<const T*>(dy.data_ptr());
          emu::launch(blocks, kernels::kElementwiseThreads, 0, {}, kernels::silu_mul_kernel<T>, g, u, n, vectorized,
                      static_cast<T*>(out.data_ptr()));
          emu::launch(blocks, kernels::kElementwiseThreads, 0, {}, kernels::silu_mul_backward_kernel<T>, d, g, u, n,
                      vectorized, static_cast<T*>(dgate.data_ptr()), static_cast<T*>(dup.data_ptr()));
          emu::launch(blocks, kernels::kElementwiseThreads, 0, {}, kernels::silu_mul_backward_kernel<T>, d, g, u, n,
                      vectorized, static_cast<T*>(dgate_alone.data_ptr()), static_cast<T*>(nullptr));
        });
        EXPECT_TRUE(close(out.to(at::kFloat), expected.to(at::kFloat), tolerance, "silu(gate) * up"));
        EXPECT_TRUE(close(dgate.to(at::kFloat), expected_dgate.to(at::kFloat), tolerance, "d gate"));
        EXPECT_TRUE(close(dup.to(at::kFloat), expected_dup.to(at::kFloat), tolerance, "d up"));
        EXPECT_TRUE(at::equal(dgate_alone, dgate)) << "d gate without d up";
      }
  }
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// The rotary embedding of x (batch, length, heads, dim) and its input gradient against the operators and autograd
// on the CPU, bit for bit in every dtype: each product and sum is rounded where the operators round it (the
// kernel keeps nvcc from fusing a product and the sum into one FMA; test_models_on_gpu checks that on a GPU).
TEST(KernelEmulation, RotaryEmbeddingAndItsBackwardMatchTheOperators) {
  const int64_t batch = 2, length = 5, heads = 3, dim = 16, n = batch * length * heads * dim;
  for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    at::manual_seed(12);
    const at::Tensor angles = 10 * at::rand({length, dim});
    const at::Tensor cos = angles.cos().to(dtype), sin = angles.sin().to(dtype);
    const at::Tensor x = (3 * at::randn({batch, length, heads, dim})).to(dtype).requires_grad_();
    const at::Tensor dy = at::randn({batch, length, heads, dim}).to(dtype);
    const at::Tensor expected = x * cos.unsqueeze(1) + rotate_half(x) * sin.unsqueeze(1);
    const at::Tensor expected_dx = torch::autograd::grad({expected}, {x}, {dy})[0];
    for (const bool vectorized : {false, true})
      for (const unsigned blocks :
           {kernels::elementwise_blocks(vectorized ? n * static_cast<int64_t>(x.element_size()) / 16 : n), 1u}) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + ", " + std::to_string(blocks) + " blocks" +
                     (vectorized ? ", 16-byte accesses" : ""));
        const at::Tensor y = unwritten({batch, length, heads, dim}, dtype),
                         dx = unwritten({batch, length, heads, dim}, dtype);
        ASSERT_TRUE(!vectorized || kernels::elementwise_vectors(static_cast<int>(x.element_size()), n,
                                                                {x.data_ptr(), cos.data_ptr(), sin.data_ptr(),
                                                                 dy.data_ptr(), y.data_ptr(), dx.data_ptr()}));
        with_element_type(dtype, [&](auto element) {
          using T = decltype(element);
          const auto* c = static_cast<const T*>(cos.data_ptr());
          const auto* s = static_cast<const T*>(sin.data_ptr());
          emu::launch(blocks, kernels::kElementwiseThreads, 0, {}, kernels::rotary_kernel<T>,
                      static_cast<const T*>(x.data_ptr()), c, s, n, heads, length, dim, false, vectorized,
                      static_cast<T*>(y.data_ptr()));
          emu::launch(blocks, kernels::kElementwiseThreads, 0, {}, kernels::rotary_kernel<T>,
                      static_cast<const T*>(dy.data_ptr()), c, s, n, heads, length, dim, true, vectorized,
                      static_cast<T*>(dx.data_ptr()));
        });
        EXPECT_TRUE(at::equal(y, expected.detach()));
        EXPECT_TRUE(at::equal(dx, expected_dx));
      }
  }
}

}  // namespace
