// Rotation math against the values PEFT's own code produces (obtained by running PEFT 0.21's
// OFTRotationModule on the inputs below) and against the definitions.
#include "oft/adapter/rotation_math.h"

#include <torch/csrc/autograd/autograd.h>

#include "oft/errors.h"
#include "test_support.h"

namespace oft::math {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

at::Tensor g1_vectors() { return at::tensor({0.1, 0.2, 0.3, -0.1, 0.05, 0.0}, kF64).view({2, 3}); }

TEST(SkewSymmetric, UpperTriangleIsRowMajorAsPeft) {
  auto q = skew_symmetric(at::arange(1, 7, kF64).view({1, 6}), 4)[0];
  auto expected = at::tensor({0., 1., 2., 3., -1., 0., 4., 5., -2., -4., 0., 6., -3., -5., -6., 0.}, kF64).view({4, 4});
  EXPECT_TRUE(at::equal(q, expected));
  EXPECT_TRUE(at::equal(skew_to_vector(q.unsqueeze(0)), at::arange(1, 7, kF64).view({1, 6})));
}

TEST(CayleyNeumann, MatchesPeftFiveTermValues) {
  auto r = cayley_neumann(skew_symmetric(g1_vectors(), 3), 5);
  auto block0 = at::tensor(
      {0.9070000, 0.0604000, 0.3998000, -0.2836000, 0.8140000, 0.4788000, -0.2882000, -0.5532000, 0.7582000}, kF64);
  auto block1 = at::tensor(
      {0.9751562, -0.1975000, 0.0987500, 0.1975000, 0.9801250, 0.0099375, -0.0987500, 0.0099375, 0.9950313}, kF64);
  EXPECT_LE((r[0].flatten() - block0).abs().max().item<double>(), 1e-7);
  EXPECT_LE((r[1].flatten() - block1).abs().max().item<double>(), 1e-7);
}

TEST(CayleyExact, MatchesPeftValuesAndIsOrthogonal) {
  auto r = cayley_exact(skew_symmetric(g1_vectors(), 3));
  auto block0 = at::tensor(
      {0.9122807, -0.2807018, -0.2982456, 0.0701754, 0.8245614, -0.5614035, 0.4035088, 0.4912281, 0.7719298}, kF64);
  auto block1 = at::tensor(
      {0.9753086, 0.1975309, -0.0987654, -0.1975309, 0.9802469, 0.0098765, 0.0987654, 0.0098765, 0.9950617}, kF64);
  EXPECT_LE((r[0].flatten() - block0).abs().max().item<double>(), 1e-7);
  EXPECT_LE((r[1].flatten() - block1).abs().max().item<double>(), 1e-7);
  auto eye = at::eye(3, kF64).expand({2, 3, 3});
  EXPECT_LE((at::bmm(r, r.transpose(1, 2)) - eye).abs().max().item<double>(), 1e-12);
}

TEST(CayleyExact, IsTheTransposeOfTheNeumannLimit) {
  // PEFT's two modes give (nearly) transposed rotations for the same weights (PEFT's OFTRotationModule: Cayley vs
  // Cayley-Neumann).
  auto q = skew_symmetric(at::randn({3, 6}, kF64) * 0.02, 4);
  auto exact = cayley_exact(q);
  auto neumann = cayley_neumann(q, 12);
  EXPECT_LE((exact - neumann.transpose(1, 2)).abs().max().item<double>(), 1e-9);
  EXPECT_GT((exact - neumann).abs().max().item<double>(), 1e-3);
}

TEST(CayleyExact, HalfPrecisionIsSolvedInFloat32AndReturnedInItsDtype) {
  auto q = skew_symmetric(at::randn({2, 6}) * 0.1, 4);
  auto half = cayley_exact(q.to(at::kBFloat16));
  EXPECT_EQ(half.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(test::close(half, cayley_exact(q.to(at::kBFloat16).to(at::kFloat)), 1e-2, "bf16 exact Cayley"));
}

TEST(CayleyNeumann, TermCountsFollowPeftCoefficients) {
  auto q = skew_symmetric(at::randn({2, 6}, kF64) * 0.1, 4);
  auto eye = at::eye(4, kF64).expand({2, 4, 4});
  auto q2 = at::bmm(q, q), q3 = at::bmm(q2, q), q4 = at::bmm(q3, q), q5 = at::bmm(q4, q);
  EXPECT_TRUE(test::close(cayley_neumann(q, 2), eye + 2 * q, 1e-12, "N=2"));
  EXPECT_TRUE(test::close(cayley_neumann(q, 3), eye + 2 * q + 2 * q2 + q3, 1e-12, "N=3"));
  EXPECT_TRUE(at::equal(cayley_neumann(q, 3), cayley_neumann(q, 4)));  // PEFT: N=3 and N=4 coincide
  EXPECT_TRUE(test::close(cayley_neumann(q, 5), eye + 2 * q + 2 * q2 + 2 * q3 + q4, 1e-12, "N=5"));
  EXPECT_TRUE(test::close(cayley_neumann(q, 6), eye + 2 * q + 2 * q2 + 2 * q3 + 2 * q4 + q5, 1e-12, "N=6"));
  EXPECT_THROW(cayley_neumann(q, 1), UsageError);
}

TEST(CoftProjection, ShrinksLargeBlocksOntoTheBallAndKeepsSmallOnes) {
  const double eps = 0.1;
  auto vec = at::cat({at::full({1, 6}, 1.0, kF64), at::full({1, 6}, 1e-3, kF64)});
  auto projected = coft_project(vec, 4, eps);
  const double radius = eps / std::sqrt(2.0);
  auto norms = at::linalg_matrix_norm(skew_symmetric(projected, 4), "fro", {-2, -1});
  EXPECT_NEAR(norms[0].item<double>(), radius, 1e-12);
  EXPECT_TRUE(at::equal(projected[1], vec[1]));
}

TEST(MultiplicativeDropout, ReplacesFloorPTimesDBlocksWithIdentity) {
  auto blocks = at::randn({8, 4, 4});
  auto out = multiplicative_dropout(blocks, 0.3);  // floor(2.4) = 2 blocks
  auto eye = at::eye(4);
  int replaced = 0;
  for (int i = 0; i < 8; ++i) {
    const bool is_eye = at::equal(out[i], eye);
    replaced += is_eye;
    if (!is_eye) {
      EXPECT_TRUE(at::equal(out[i], blocks[i]));
    }
  }
  EXPECT_EQ(replaced, 2);
  EXPECT_TRUE(at::equal(multiplicative_dropout(blocks.narrow(0, 0, 1), 0.9), blocks.narrow(0, 0, 1)));
}

TEST(RotateRows, EqualsMultiplyingByTheBlockDiagonalMatrix) {
  auto blocks = at::randn({3, 4, 4}, kF64);
  auto x = at::randn({2, 5, 12}, kF64);
  EXPECT_TRUE(test::close(rotate_rows(x, blocks), at::matmul(x, block_diagonal(blocks)), 1e-12, "rotate_rows"));
  auto shared = blocks.narrow(0, 0, 1);
  EXPECT_TRUE(test::close(rotate_rows(x, shared), at::matmul(x, block_diagonal(shared.expand({3, 4, 4}))), 1e-12,
                          "shared block"));
}

// Against autograd through rotate_rows: for separate blocks and a shared one, from bf16 activations (upcast, so
// the only difference is the order of fp32 sums).
TEST(RotateRows, BlocksGradientEqualsAutograd) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({2, 5, 12}).to(at::kBFloat16), dy = at::randn({2, 5, 12}).to(at::kBFloat16);
  for (const int64_t r : {3, 1}) {
    SCOPED_TRACE(r == 1 ? "shared block" : "3 blocks");
    const at::Tensor blocks = at::randn({r, 4, 4}).requires_grad_();
    const at::Tensor y = rotate_rows(x.to(at::kFloat), blocks);
    const at::Tensor expected = torch::autograd::grad({y}, {blocks}, {dy.to(at::kFloat)})[0];
    const at::Tensor gradient = rotate_rows_blocks_gradient(x, dy, r, 4);
    EXPECT_EQ(gradient.scalar_type(), at::kFloat);
    EXPECT_TRUE(test::close(gradient, expected, 1e-5, "blocks gradient"));
  }
  EXPECT_THROW(rotate_rows_blocks_gradient(x, dy.narrow(1, 0, 4), 3, 4), c10::Error);
  EXPECT_THROW(rotate_rows_blocks_gradient(x, dy, 2, 4), c10::Error);
}

}  // namespace
}  // namespace oft::math
