// liboft_cuda's rotation kernels on a GPU against rotation_math on the CPU (the reference), forward and
// backward, for fp32/bf16/fp16 activations and block sizes 2..64 (and the LibTorch path beyond). ctest
// label `gpu`; every test skips, saying why, where prepare_device(cuda) finds no device.
#include <cstdint>
#include <string>
#include <utility>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>

#include "oft/adapter/rotation.h"
#include "oft/adapter/rotation_math.h"
#include "oft/device/device.h"
#include "oft/device/rotation_kernels.h"
#include "oft/errors.h"
#include "rotation_reference.h"
#include "test_support.h"

using oft::test::close;

namespace {

const c10::Device kCuda(c10::kCUDA, 0);

// The registered CUDA kernels; null with `why` set when there is no device (skip) or `failed` set when
// liboft_cuda is broken (this test is only built with it, so that is a failure, not a skip).
const oft::RotationKernels* cuda_kernels(std::string& why, bool& failed) {
  try {
    oft::prepare_device(kCuda);
  } catch (const oft::UsageError& e) {
    why = e.what();
    failed = why.find("no CUDA device is visible") == std::string::npos;
    return nullptr;
  }
  return oft::rotation_kernels(c10::kCUDA);
}

#define REQUIRE_CUDA_KERNELS(kernels)                                                     \
  std::string why_not;                                                                    \
  bool broken = false;                                                                    \
  const oft::RotationKernels* kernels = cuda_kernels(why_not, broken);                    \
  if (broken) FAIL() << why_not;                                                          \
  if (kernels == nullptr) GTEST_SKIP() << "needs a CUDA device (label gpu): " << why_not; \
  ASSERT_NE(kernels->rotate_rows, nullptr);                                               \
  ASSERT_NE(kernels->cayley_neumann, nullptr)

// Whether `node` or a node it takes gradients from is named like `function` (the pointer type of Edge::function
// differs between LibTorch releases, hence the template).
template <class NodePtr>
bool reaches(const NodePtr& node, const std::string& function) {
  if (!node) return false;
  if (node->name().find(function) != std::string::npos) return true;
  for (const auto& edge : node->next_edges())
    if (reaches(edge.function, function)) return true;
  return false;
}

// Whether `t` was computed through the autograd Function named `function`. The kernels' Functions are named for
// them; rotation_math's fallback gives the same numbers, so only this shows that the kernels ran.
bool computed_by(const at::Tensor& t, const std::string& function) { return reaches(t.grad_fn(), function); }

// Rounding of the output dtype: the kernel and the CPU path differ only in fp32 summation order before
// the final rounding, so by at most about one unit in the last place of the result.
double output_tolerance(at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return 1.6e-2;  // 2^-7 relative, and values near the max round alike
  if (dtype == at::kHalf) return 2e-3;        // 2^-10
  return 1e-5;
}

// Default sizes are odd: partial tiles.
void check_rotate(const oft::RotationKernels& kernels, at::ScalarType dtype, int b, bool shared, int oft_blocks = 5,
                  int tokens = 37) {
  SCOPED_TRACE(std::string(c10::toString(dtype)) + ", b = " + std::to_string(b) + (shared ? ", shared block" : "") +
               ", " + std::to_string(oft_blocks) + " blocks, 3 x " + std::to_string(tokens) + " tokens");
  at::manual_seed(b * 4 + (shared ? 1 : 0));
  const at::Tensor x = at::randn({3, tokens, oft_blocks * b}).to(dtype);
  const at::Tensor dy = at::randn({3, tokens, oft_blocks * b}).to(dtype);
  const at::Tensor vec = at::randn({shared ? 1 : oft_blocks, b * (b - 1) / 2}) * (0.3 / b);
  const at::Tensor blocks = oft::math::cayley_neumann(oft::math::skew_symmetric(vec, b), 5);

  // Reference: the CPU path, in fp32 from the same dtype-rounded inputs.
  const at::Tensor x_ref = x.to(at::kFloat).requires_grad_();
  const at::Tensor blocks_ref = blocks.clone().requires_grad_();
  const at::Tensor y_ref = oft::math::rotate_rows(x_ref, blocks_ref);
  const auto grads_ref = torch::autograd::grad({y_ref}, {x_ref, blocks_ref}, {dy.to(at::kFloat)});

  const at::Tensor x_gpu = x.to(kCuda).requires_grad_();
  const at::Tensor blocks_gpu = blocks.to(kCuda).requires_grad_();
  const at::Tensor y = kernels.rotate_rows(x_gpu, blocks_gpu);
  ASSERT_EQ(y.scalar_type(), dtype);
  EXPECT_TRUE(computed_by(y, "RotateRows")) << "the rotation kernel did not run";
  const auto grads = torch::autograd::grad({y}, {x_gpu, blocks_gpu}, {dy.to(kCuda)});

  const double tol = output_tolerance(dtype);
  EXPECT_TRUE(close(y.cpu().to(at::kFloat), y_ref.detach().to(dtype).to(at::kFloat), tol, "y"));
  EXPECT_TRUE(close(grads[0].cpu().to(at::kFloat), grads_ref[0].to(dtype).to(at::kFloat), tol, "dx"));
  // dR accumulates in fp32 from the same inputs: only the summation order differs.
  EXPECT_TRUE(close(grads[1].cpu(), grads_ref[1], 1e-4, "dR"));
  // dR alone (x needs no gradient): the backward's other launch.
  const at::Tensor y_of_frozen_x = kernels.rotate_rows(x.to(kCuda), blocks_gpu);
  const auto dr_alone = torch::autograd::grad({y_of_frozen_x}, {blocks_gpu}, {dy.to(kCuda)});
  EXPECT_TRUE(close(dr_alone[0].cpu(), grads_ref[1], 1e-4, "dR alone"));
}

class CudaRotate : public ::testing::TestWithParam<at::ScalarType> {};

TEST_P(CudaRotate, ForwardAndBackwardMatchTheCpu) {
  REQUIRE_CUDA_KERNELS(kernels);
  for (const int b : {2, 3, 8, 16, 32, 64})
    for (const bool shared : {false, true}) check_rotate(*kernels, GetParam(), b, shared);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaRotate, ::testing::Values(at::kFloat, at::kBFloat16, at::kHalf));

// 4096 features in blocks of 64 and 9000 tokens: more token tiles than the dR kernel's splits, so each split
// reduces several tiles (its grid-stride loop), and the dx/y kernels see thousands of tiles; in bf16 the
// tensor-core kernels (blocks of 32 and 64) loop likewise.
TEST(CudaRotation, ManyTilesPerSplitMatchTheCpu) {
  REQUIRE_CUDA_KERNELS(kernels);
  for (const bool shared : {false, true}) check_rotate(*kernels, at::kFloat, 64, shared, 64, 3000);
  for (const int b : {32, 64}) check_rotate(*kernels, at::kBFloat16, b, false, 4096 / b, 3000);
}

// LibTorch's deterministic mode on while it lives (warn_only: LibTorch's own GEMMs then need no cuBLAS setup).
struct DeterministicAlgorithms {
  DeterministicAlgorithms() { at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true); }
  ~DeterministicAlgorithms() { at::globalContext().setDeterministicAlgorithms(false, false); }
};

// In deterministic mode dR comes from batched GEMMs, not the kernels' atomic sums over token tiles: the same bits on
// every run, and the CPU's values within fp32 summation order. Sizes of ManyTilesPerSplit: many tiles per block.
TEST(CudaRotation, DeterministicModeGivesTheSameRotationGradientEveryRun) {
  REQUIRE_CUDA_KERNELS(kernels);
  const DeterministicAlgorithms deterministic;
  for (const bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "shared block" : "64 blocks");
    const int b = 32, features = 2048;
    at::manual_seed(shared ? 11 : 12);
    const at::Tensor x = at::randn({3000, features}).to(at::kBFloat16), dy = at::randn({3000, features});
    const at::Tensor vec = at::randn({shared ? 1 : features / b, b * (b - 1) / 2}) * (0.3 / b);
    const at::Tensor blocks = oft::math::cayley_neumann(oft::math::skew_symmetric(vec, b), 5);
    const at::Tensor blocks_ref = blocks.clone().requires_grad_();
    const at::Tensor y_ref = oft::math::rotate_rows(x.to(at::kFloat), blocks_ref);
    const at::Tensor dr_ref = torch::autograd::grad({y_ref}, {blocks_ref}, {dy.to(at::kBFloat16).to(at::kFloat)})[0];
    auto rotation_gradient = [&] {
      const at::Tensor blocks_gpu = blocks.to(kCuda).requires_grad_();
      const at::Tensor y = kernels->rotate_rows(x.to(kCuda).requires_grad_(), blocks_gpu);
      EXPECT_TRUE(computed_by(y, "RotateRows")) << "the rotation kernel did not run";
      return torch::autograd::grad({y}, {blocks_gpu}, {dy.to(kCuda, at::kBFloat16)})[0].cpu();
    };
    const at::Tensor first = rotation_gradient(), second = rotation_gradient();
    EXPECT_TRUE(at::equal(first, second));
    EXPECT_TRUE(close(first, dr_ref, 1e-4, "dR"));
  }
}

// The kernel for `num_terms` (0: exact Cayley) against rotation_math and autograd on the CPU.
void check_cayley_kernel(const oft::RotationKernels& kernels, int b, int num_terms, double scale, uint64_t seed) {
  SCOPED_TRACE("b = " + std::to_string(b) + ", N = " + std::to_string(num_terms) +
               ", scale = " + std::to_string(scale));
  const auto ref = oft::test::rotation_reference(/*blocks=*/6, b, num_terms, scale, seed);
  const at::Tensor vec_gpu = ref.vec.to(kCuda).requires_grad_();
  const at::Tensor r =
      num_terms == 0 ? kernels.cayley_exact(vec_gpu, b) : kernels.cayley_neumann(vec_gpu, b, num_terms);
  EXPECT_TRUE(computed_by(r, num_terms == 0 ? "CayleyExact" : "CayleyNeumann")) << "the Cayley kernel did not run";
  const at::Tensor grad_gpu = torch::autograd::grad({r}, {vec_gpu}, {ref.grad.to(kCuda)})[0];
  EXPECT_TRUE(close(r.cpu(), ref.blocks, 1e-5, "rotation blocks"));
  // Exact Cayley's gradient goes through the inverse: the kernel's fp32 error and the fp32 reference's are each
  // about 5e-6 at b = 64 and scale 3 (measured against fp64), so 1e-4, as in test_kernel_emulation.
  EXPECT_TRUE(close(grad_gpu.cpu(), ref.vec_grad, num_terms == 0 ? 1e-4 : 1e-5, "skew vector gradient"));
}

TEST(CudaRotation, CayleyNeumannForwardAndBackwardMatchTheCpu) {
  REQUIRE_CUDA_KERNELS(kernels);
  for (const int b : {2, 3, 8, 16, 32, 64})
    for (const int num_terms : {2, 3, 4, 5, 6})
      check_cayley_kernel(*kernels, b, num_terms, 0.3 / b, b * 10 + num_terms);
}

TEST(CudaRotation, ExactCayleyForwardAndBackwardMatchTheCpu) {
  REQUIRE_CUDA_KERNELS(kernels);
  ASSERT_NE(kernels->cayley_exact, nullptr);
  for (const int b : {2, 3, 8, 16, 32, 64})
    for (const double scale : {0.3 / b, 0.5, 3.0}) check_cayley_kernel(*kernels, b, /*num_terms=*/0, scale, b);
}

// Blocks beyond the kernels' 64 take LibTorch's operators on the GPU, with the same results.
TEST(CudaRotation, LargeBlocksTakeLibTorchsPath) {
  REQUIRE_CUDA_KERNELS(kernels);
  const int b = 128;
  at::manual_seed(7);
  const at::Tensor vec = at::randn({2, b * (b - 1) / 2}) * 0.002;
  const at::Tensor x = at::randn({9, 2 * b});
  const at::Tensor blocks = oft::math::cayley_neumann(oft::math::skew_symmetric(vec, b), 5);
  EXPECT_TRUE(close(kernels->cayley_neumann(vec.to(kCuda), b, 5).cpu(), blocks, 1e-5, "blocks"));
  EXPECT_TRUE(close(kernels->rotate_rows(x.to(kCuda), blocks.to(kCuda)).cpu(), oft::math::rotate_rows(x, blocks), 1e-5,
                    "rows"));
}

// A rotation with random weights (seeded) on the CPU, and the same rotation on the GPU.
std::pair<oft::OFTRotation, oft::OFTRotation> cpu_and_gpu_rotation(const oft::RotationSpec& spec, uint64_t seed) {
  at::manual_seed(seed);
  oft::OFTRotation cpu(spec);
  cpu->reset(/*identity=*/false);
  oft::OFTRotation gpu(spec);
  {
    at::NoGradGuard no_grad;
    gpu->weight.copy_(cpu->weight);
  }
  gpu->to(kCuda);
  return {cpu, gpu};
}

// OFTRotation on the GPU goes through the registered kernels and agrees with the same module on the CPU,
// in training (graph, gradient to the weight) and in eval (cached blocks).
TEST(CudaRotation, OftRotationModuleMatchesTheCpu) {
  REQUIRE_CUDA_KERNELS(kernels);
  oft::RotationSpec spec;
  spec.features = 256;
  spec.block_size = 32;
  auto [cpu, gpu] = cpu_and_gpu_rotation(spec, 3);
  const at::Tensor x = at::randn({4, 16, spec.features}).to(at::kBFloat16);

  const at::Tensor y_cpu = cpu->forward(x);
  const at::Tensor y_gpu = gpu->forward(x.to(kCuda));
  EXPECT_EQ(y_gpu.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(computed_by(y_gpu, "RotateRows") && computed_by(y_gpu, "CayleyNeumann")) << "the kernels did not run";
  EXPECT_TRUE(close(y_gpu.cpu().to(at::kFloat), y_cpu.detach().to(at::kBFloat16).to(at::kFloat), 1.6e-2, "train y"));
  y_cpu.to(at::kFloat).sum().backward();
  y_gpu.to(at::kFloat).sum().backward();
  EXPECT_TRUE(close(gpu->weight.grad().cpu(), cpu->weight.grad(), 1e-3, "weight gradient"));

  cpu->eval();
  gpu->eval();
  at::NoGradGuard no_grad;
  EXPECT_TRUE(close(gpu->forward(x.to(kCuda)).cpu().to(at::kFloat), cpu->forward(x).to(at::kBFloat16).to(at::kFloat),
                    1.6e-2, "eval y"));
}

// COFT writes the projected values back into the weight at every use (as PEFT does): a layer used twice before
// the backward must still get its gradient, with either Cayley kernel (Cayley-Neumann keeps its own copy of the
// skew vector; exact Cayley saves the rotation, not the weight).
TEST(CudaRotation, CoftWeightUsedTwiceBeforeTheBackward) {
  REQUIRE_CUDA_KERNELS(kernels);
  for (const bool neumann : {true, false}) {
    SCOPED_TRACE(neumann ? "Cayley-Neumann" : "exact Cayley");
    oft::RotationSpec spec;
    spec.features = 128;
    spec.block_size = 16;
    spec.coft = true;
    spec.use_cayley_neumann = neumann;
    auto [cpu, gpu] = cpu_and_gpu_rotation(spec, neumann ? 5 : 9);
    const at::Tensor x = at::randn({8, spec.features});
    const at::Tensor y_cpu = cpu->forward(x) + cpu->forward(x);
    const at::Tensor y_gpu = gpu->forward(x.to(kCuda)) + gpu->forward(x.to(kCuda));
    EXPECT_TRUE(close(y_gpu.detach().cpu(), y_cpu.detach(), 1e-5, "y"));
    y_cpu.sum().backward();
    ASSERT_NO_THROW(y_gpu.sum().backward());
    EXPECT_TRUE(close(gpu->weight.grad().cpu(), cpu->weight.grad(), 1e-4, "weight gradient"));
  }
}

}  // namespace
