// The CPU input rotation (cpu_rotation.h) against LibTorch's operators (math::rotate_rows on x in fp32, rounded to
// x's dtype): the output, dx and dR on each path this CPU has (eight lanes; sixteen with AVX-512F), for block sizes
// that give every tile width, shared and per-block rotations, token counts that do and do not fill a tile,
// fp32/fp16/bf16 rows; strided rows; what it refuses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "oft/adapter/cpu_rotation.h"
#include "oft/adapter/rotation_math.h"
#include "test_support.h"

namespace oft {
namespace {

struct Result {
  at::Tensor y, dx, dblocks;
};

// y = rotate(x, blocks) and the gradients of sum(y * g).
template <typename Rotate>
Result run(const at::Tensor& x0, const at::Tensor& blocks0, const at::Tensor& g, Rotate rotate) {
  const at::Tensor x = x0.detach().clone().requires_grad_(true);
  const at::Tensor blocks = blocks0.detach().clone().requires_grad_(true);
  const at::Tensor y = rotate(x, blocks);
  (y.to(at::kFloat) * g).sum().backward();
  return {y.detach(), x.grad(), blocks.grad()};
}

Result reference(const at::Tensor& x, const at::Tensor& blocks, const at::Tensor& g) {
  return run(x, blocks, g, [](const at::Tensor& rows, const at::Tensor& b) {
    return math::rotate_rows(rows.to(at::kFloat), b).to(rows.scalar_type());
  });
}

Result kernel(const at::Tensor& x, const at::Tensor& blocks, const at::Tensor& g, sdk::ProductLanes lanes) {
  return run(x, blocks, g,
             [lanes](const at::Tensor& rows, const at::Tensor& b) { return cpu_rotate_rows(rows, b, lanes); });
}

// The paths this CPU runs.
std::vector<sdk::ProductLanes> paths_here() {
  std::vector<sdk::ProductLanes> paths{sdk::ProductLanes::kEight};
  if (sdk::takes_16_lanes(sdk::ProductLanes::kWidest)) paths.push_back(sdk::ProductLanes::kWidest);
  return paths;
}

TEST(CpuRotation, AgreesWithLibTorchsOperatorsForwardAndBackward) {
  at::manual_seed(7);
  for (const int64_t b : {8, 16, 24, 32, 48, 64})
    for (const bool shared : {false, true})
      for (const int64_t tokens : {1, 3, 4, 5, 37, 300})  // 300: dR sums over several chunks of tokens
        for (const auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
          const int64_t features = 3 * b;
          const at::Tensor x = at::randn({tokens, features}).to(dtype);
          // Orthogonal blocks, as OFT's are: outputs keep the inputs' scale.
          const at::Tensor q = at::randn({shared ? 1 : 3, b, b}) * 0.1;
          const at::Tensor blocks = math::cayley_exact(q - q.transpose(-2, -1));
          const at::Tensor g = at::randn({tokens, features});
          if (!cpu_rotation_fits(x, blocks))
            GTEST_SKIP() << "this CPU lacks AVX2, FMA or F16C: the kernel does not run";
          const Result want = reference(x, blocks, g);
          for (const sdk::ProductLanes lanes : paths_here()) {
            const Result got = kernel(x, blocks, g, lanes);
            const std::string where = "b " + std::to_string(b) + (shared ? " shared" : "") + ", " +
                                      std::to_string(tokens) + " tokens, " + c10::toString(dtype) +
                                      (lanes == sdk::ProductLanes::kEight ? ", eight lanes" : ", sixteen lanes");
            ASSERT_EQ(got.y.scalar_type(), dtype) << where;
            ASSERT_EQ(got.dx.scalar_type(), dtype) << where;
            // The sums differ only in order (fp32); rounded to fp16/bf16 that can flip one last-place rounding.
            const double rounding = dtype == at::kFloat ? 1e-6 : dtype == at::kHalf ? 1e-3 : 8e-3;
            EXPECT_LT(test::relative_error(got.y, want.y), rounding) << where;
            EXPECT_LT(test::relative_error(got.dx, want.dx), rounding) << where;
            EXPECT_LT(test::relative_error(got.dblocks, want.dblocks), 1e-5) << where;
          }
        }
}

TEST(CpuRotation, GradientsOfOneInputOnlyAndOfNoTokens) {
  at::manual_seed(9);
  const at::Tensor x = at::randn({6, 64}).to(at::kBFloat16), blocks = at::randn({2, 32, 32}), g = at::randn({6, 64});
  if (!cpu_rotation_fits(x, blocks)) GTEST_SKIP() << "this CPU lacks AVX2, FMA or F16C: the kernel does not run";
  const Result want = reference(x, blocks, g);
  // Frozen blocks (an adapter that is not trained): dx only.
  const at::Tensor x_only = x.clone().requires_grad_(true);
  (cpu_rotate_rows(x_only, blocks).to(at::kFloat) * g).sum().backward();
  EXPECT_LT(test::relative_error(x_only.grad(), want.dx), 8e-3);
  // An input that needs no gradient (a first layer's): dR only.
  const at::Tensor blocks_only = blocks.clone().requires_grad_(true);
  (cpu_rotate_rows(x, blocks_only).to(at::kFloat) * g).sum().backward();
  EXPECT_LT(test::relative_error(blocks_only.grad(), want.dblocks), 1e-5);
  // No tokens: an empty output and a zero dR.
  const at::Tensor none = at::zeros({0, 64}, at::kBFloat16), trained = blocks.clone().requires_grad_(true);
  const at::Tensor y = cpu_rotate_rows(none, trained);
  EXPECT_EQ(y.sizes(), none.sizes());
  y.to(at::kFloat).sum().backward();
  EXPECT_TRUE(at::equal(trained.grad(), at::zeros_like(blocks)));
}

TEST(CpuRotation, ABackwardWithAGraphIsDifferentiable) {
  // create_graph: the backward runs LibTorch's operators, so a gradient of the gradient is the math path's.
  at::manual_seed(10);
  const at::Tensor x = at::randn({5, 64}), blocks = at::randn({2, 32, 32}), g = at::randn({5, 64});
  if (!cpu_rotation_fits(x, blocks)) GTEST_SKIP() << "this CPU lacks AVX2, FMA or F16C: the kernel does not run";
  const auto second_order = [&](const auto& rotate) {
    const at::Tensor xx = x.clone().requires_grad_(true), bb = blocks.clone().requires_grad_(true);
    const at::Tensor dx = torch::autograd::grad({(rotate(xx, bb) * g).sum()}, {xx}, {}, true, true)[0];
    dx.pow(2).sum().backward();
    return bb.grad();
  };
  const at::Tensor want =
      second_order([](const at::Tensor& a, const at::Tensor& b) { return math::rotate_rows(a, b); });
  const at::Tensor got = second_order([](const at::Tensor& a, const at::Tensor& b) { return cpu_rotate_rows(a, b); });
  ASSERT_TRUE(got.defined());
  EXPECT_LT(test::relative_error(got, want), 1e-5);
}

TEST(CpuRotation, KeepsLeadingDimensionsAndTakesStridedRows) {
  at::manual_seed(8);
  const at::Tensor x = at::randn({2, 5, 64}).transpose(0, 1);  // (5, 2, 64), not contiguous
  const at::Tensor blocks = at::randn({4, 16, 16});
  if (!cpu_rotation_fits(x, blocks)) GTEST_SKIP() << "this CPU lacks AVX2, FMA or F16C: the kernel does not run";
  const at::Tensor y = cpu_rotate_rows(x, blocks);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_LT(test::relative_error(y, math::rotate_rows(x, blocks)), 1e-6);
}

TEST(CpuRotation, RefusesWhatTheKernelDoesNotTake) {
  const at::Tensor x = at::randn({2, 32});
  EXPECT_FALSE(cpu_rotation_fits(x, at::randn({8, 4, 4})));                       // b not a multiple of 8
  EXPECT_FALSE(cpu_rotation_fits(x.to(at::kDouble), at::randn({4, 8, 8})));       // fp64 rows
  EXPECT_FALSE(cpu_rotation_fits(x, at::randn({4, 8, 8}).to(at::kBFloat16)));     // blocks not fp32
  EXPECT_FALSE(cpu_rotation_fits(x, at::randn({3, 8, 8})));                       // 3 blocks for 32 features
  EXPECT_FALSE(cpu_rotation_fits(at::randn({2, 30}), at::randn({1, 8, 8})));      // features not a multiple of b
  EXPECT_FALSE(cpu_rotation_fits(at::randn({2, 0}), at::randn({1, 8, 8})));       // no features
  EXPECT_THROW(cpu_rotate_rows(x, at::randn({8, 4, 4})), std::invalid_argument);  // and says so
}

}  // namespace
}  // namespace oft
