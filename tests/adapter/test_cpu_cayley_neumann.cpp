// The CPU Cayley-Neumann node (cpu_cayley_neumann.h) against LibTorch's operators (math::cayley_neumann of
// math::skew_symmetric): rotations and the gradient of the skew vectors for block sizes 2..64, two to eight terms,
// shared and per-block parameters; a gradient of the gradient; COFT's in-place rewrite between forward and backward;
// what it refuses.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "oft/adapter/cpu_cayley_neumann.h"
#include "oft/adapter/rotation_math.h"
#include "test_support.h"

namespace oft::cpu_cayley_neumann_test {
namespace {

at::Tensor series_by_operators(const at::Tensor& vec, int64_t b, int64_t terms) {
  return math::cayley_neumann(math::skew_symmetric(vec, b), terms);
}

// The rotations and d/dvec of sum(R * g), through `series`.
template <typename Series>
std::pair<at::Tensor, at::Tensor> rotations_and_gradient(const at::Tensor& vec0, const at::Tensor& g, Series series) {
  const at::Tensor vec = vec0.detach().clone().requires_grad_(true);
  const at::Tensor r = series(vec);
  (r * g).sum().backward();
  return {r.detach(), vec.grad()};
}

TEST(CpuCayleyNeumann, AgreesWithLibTorchsOperatorsForwardAndBackward) {
  at::manual_seed(11);
  for (const int64_t b : {2, 3, 8, 16, 32, 64})
    for (const int64_t blocks : {1, 5})
      for (int64_t terms = 2; terms <= 8; ++terms) {
        SCOPED_TRACE("b " + std::to_string(b) + ", blocks " + std::to_string(blocks) + ", terms " +
                     std::to_string(terms));
        const at::Tensor vec = at::randn({blocks, b * (b - 1) / 2}) * 0.05;
        const at::Tensor g = at::randn({blocks, b, b});
        const auto [r_ref, dvec_ref] =
            rotations_and_gradient(vec, g, [&](const at::Tensor& v) { return series_by_operators(v, b, terms); });
        const auto [r, dvec] =
            rotations_and_gradient(vec, g, [&](const at::Tensor& v) { return cpu_cayley_neumann(v, b, terms); });
        ASSERT_EQ(r.sizes(), r_ref.sizes());
        ASSERT_EQ(dvec.sizes(), dvec_ref.sizes());
        EXPECT_LE(test::relative_error(r, r_ref), 1e-6);
        EXPECT_LE(test::relative_error(dvec, dvec_ref), 1e-5);
      }
}

TEST(CpuCayleyNeumann, SecondOrderGradientEqualsLibTorchs) {
  at::manual_seed(12);
  const int64_t b = 8, terms = 5;
  const at::Tensor vec0 = at::randn({3, b * (b - 1) / 2}) * 0.1;
  const at::Tensor g = at::randn({3, b, b});
  const auto gradient_of_gradient_norm = [&](auto series) {
    const at::Tensor vec = vec0.clone().requires_grad_(true);
    const at::Tensor dvec = torch::autograd::grad({(series(vec) * g).sum()}, {vec}, {}, true, true)[0];
    return torch::autograd::grad({dvec.pow(2).sum()}, {vec})[0];
  };
  const at::Tensor expected =
      gradient_of_gradient_norm([&](const at::Tensor& v) { return series_by_operators(v, b, terms); });
  const at::Tensor got =
      gradient_of_gradient_norm([&](const at::Tensor& v) { return cpu_cayley_neumann(v, b, terms); });
  EXPECT_LE(test::relative_error(got, expected), 1e-5);
}

TEST(CpuCayleyNeumann, AnInPlaceRewriteOfTheParameterLeavesAPendingBackwardValid) {
  // COFT projects the parameter in place at every use; a backward of an earlier use still runs, with the Q of its
  // own forward.
  at::manual_seed(13);
  const int64_t b = 4, terms = 4;
  const at::Tensor vec = (at::randn({2, b * (b - 1) / 2}) * 0.1).requires_grad_(true);
  const at::Tensor g = at::randn({2, b, b});
  const at::Tensor expected = torch::autograd::grad({(series_by_operators(vec, b, terms) * g).sum()}, {vec})[0];
  const at::Tensor r = cpu_cayley_neumann(vec, b, terms);
  {
    torch::NoGradGuard no_grad;
    vec.mul_(0.5);
  }
  const at::Tensor got = torch::autograd::grad({(r * g).sum()}, {vec})[0];
  EXPECT_LE(test::relative_error(got, expected), 1e-5);
}

TEST(CpuCayleyNeumann, AGradientOfTheGradientAfterAnInPlaceRewriteIsRefused) {
  const int64_t b = 4, terms = 4;
  const at::Tensor vec = (at::randn({2, b * (b - 1) / 2}) * 0.1).requires_grad_(true);
  const at::Tensor r = cpu_cayley_neumann(vec, b, terms);
  {
    torch::NoGradGuard no_grad;
    vec.mul_(0.5);
  }
  try {
    torch::autograd::grad({r.sum()}, {vec}, {}, true, /*create_graph=*/true);
    FAIL() << "a graph was built from values the forward did not use";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos) << e.what();
  }
}

TEST(CpuCayleyNeumann, RefusesWhatItDoesNotTake) {
  const at::Tensor vec = at::zeros({2, 6});
  EXPECT_TRUE(cpu_cayley_neumann_fits(vec, 4, 2));
  EXPECT_FALSE(cpu_cayley_neumann_fits(vec, 4, 1));                  // fewer than two terms
  EXPECT_FALSE(cpu_cayley_neumann_fits(vec, 5, 3));                  // 6 is not 5 * 4 / 2
  EXPECT_FALSE(cpu_cayley_neumann_fits(vec.to(at::kDouble), 4, 3));  // the operators take other dtypes
  EXPECT_FALSE(cpu_cayley_neumann_fits(at::zeros({6}), 4, 3));
  EXPECT_THROW(cpu_cayley_neumann(vec, 4, 1), std::invalid_argument);
}

}  // namespace
}  // namespace oft::cpu_cayley_neumann_test
