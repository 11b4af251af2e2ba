#pragma once
// The LibTorch reference the rotation kernels' tests compare with (their arithmetic on the CPU, the emulated
// kernels, the kernels on a GPU): random skew vectors and an upstream gradient, rotation_math's blocks, and
// autograd's gradient of the vectors.
#include <cstdint>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "oft/adapter/rotation_math.h"

namespace oft::test {

struct RotationReference {
  at::Tensor vec;       // (blocks, b(b-1)/2)
  at::Tensor grad;      // (blocks, b, b): dL/dR
  at::Tensor blocks;    // R
  at::Tensor vec_grad;  // dL/dvec
};

// `num_terms` 0: the exact Cayley transform; otherwise PEFT's Cayley-Neumann series with that many terms. The
// vectors are N(0, scale^2).
inline RotationReference rotation_reference(int blocks, int b, int num_terms, double scale, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor vec = (at::randn({blocks, b * (b - 1) / 2}) * scale).requires_grad_();
  const at::Tensor grad = at::randn({blocks, b, b});
  const at::Tensor q = math::skew_symmetric(vec, b);
  const at::Tensor r = num_terms == 0 ? math::cayley_exact(q) : math::cayley_neumann(q, num_terms);
  const at::Tensor vec_grad = torch::autograd::grad({r}, {vec}, {grad})[0];
  return {vec.detach(), grad, r.detach(), vec_grad};
}

}  // namespace oft::test
