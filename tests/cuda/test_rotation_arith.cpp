// The CUDA rotation kernels' arithmetic (core/cuda/rotation_arith.h) run on the CPU, phase by phase in
// the kernels' order, against rotation_math's LibTorch results and autograd. Runs without a GPU.
#include <algorithm>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "oft/adapter/rotation_math.h"
#include "rotation_arith.h"
#include "rotation_reference.h"
#include "test_support.h"

namespace arith = oft::cuda::arith;
using oft::test::close;

namespace {

// fp32 row-major copy of a tensor.
std::vector<float> values(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

at::Tensor tensor(const std::vector<float>& v, at::IntArrayRef sizes) {
  return at::tensor(v, at::kFloat).view(sizes).clone();
}

// One OFT block's forward, as neumann_forward_kernel runs it.
std::vector<float> neumann_forward(const float* v, int b, int num_terms) {
  const int bb = b * b;
  std::vector<float> q(bb), p(bb), next(bb), r(bb);
  for (int e = 0; e < bb; ++e) arith::neumann_init(e, v, b, num_terms, q.data(), p.data(), r.data());
  for (int k = 2; k <= oft::neumann::highest_power(num_terms); ++k) {
    for (int e = 0; e < bb; ++e)
      arith::neumann_step(e, q.data(), p.data(), next.data(), r.data(), b, oft::neumann::coefficient(k, num_terms));
    std::swap(p, next);
  }
  return r;
}

// One OFT block's backward, as neumann_backward_kernel runs it.
std::vector<float> neumann_backward(const float* v, const float* g, int b, int num_terms) {
  const int bb = b * b;
  std::vector<float> q(bb), a(bb), s(bb), a_next(bb), s_next(bb), d(bb), dv(b * (b - 1) / 2);
  for (int e = 0; e < bb; ++e) arith::neumann_grad_init(e, v, g, b, num_terms, q.data(), a.data(), s.data(), d.data());
  for (int k = 1; k < oft::neumann::highest_power(num_terms); ++k) {
    for (int e = 0; e < bb; ++e)
      arith::neumann_grad_step(e, q.data(), g, a.data(), s.data(), a_next.data(), s_next.data(), d.data(), b,
                               oft::neumann::coefficient(k + 1, num_terms));
    std::swap(a, a_next);
    std::swap(s, s_next);
  }
  for (int e = 0; e < bb; ++e) arith::skew_grad_vector(e, d.data(), b, dv.data());
  return dv;
}

// Against rotation_math and its autograd.
void check_neumann(int b, int num_terms) {
  SCOPED_TRACE("b = " + std::to_string(b) + ", N = " + std::to_string(num_terms));
  const int blocks = 3, m = b * (b - 1) / 2;
  // Small enough that the series' powers stay of order one for b = 64, as trained adapters are.
  const auto ref = oft::test::rotation_reference(blocks, b, num_terms, 0.3 / b, b * 10 + num_terms);
  const std::vector<float> v = values(ref.vec), g = values(ref.grad);
  std::vector<float> r, dv;
  for (int k = 0; k < blocks; ++k) {
    const auto rk = neumann_forward(v.data() + k * m, b, num_terms);
    const auto dvk = neumann_backward(v.data() + k * m, g.data() + k * b * b, b, num_terms);
    r.insert(r.end(), rk.begin(), rk.end());
    dv.insert(dv.end(), dvk.begin(), dvk.end());
  }
  EXPECT_TRUE(close(tensor(r, {blocks, b, b}), ref.blocks, 1e-5, "rotation blocks"));
  EXPECT_TRUE(close(tensor(dv, {blocks, m}), ref.vec_grad, 1e-5, "skew vector gradient"));
}

// One OFT block's exact Cayley forward, as cayley_forward_kernel runs it: Gauss-Jordan in three phases per pivot.
std::vector<float> cayley_forward(const float* v, int b) {
  const int bb = b * b;
  std::vector<float> m(2 * bb), f(b), r(bb);
  for (int e = 0; e < 2 * bb; ++e) arith::cayley_augment(e, v, b, m.data());
  for (int k = 0; k < b; ++k) {
    for (int row = 0; row < b; ++row) arith::gauss_jordan_factor(row, m.data(), b, k, f.data());
    for (int e = 0; e < 2 * bb; ++e) arith::gauss_jordan_eliminate(e, m.data(), b, k, f.data());
    for (int c = 0; c < 2 * b; ++c) arith::gauss_jordan_normalize(c, m.data(), b, k, f.data());
  }
  for (int e = 0; e < bb; ++e) r[e] = arith::cayley_from_inverse(e, m.data(), b);
  return r;
}

// Its backward from the rotation, as cayley_backward_kernel runs it.
std::vector<float> cayley_backward(const float* r, const float* g, int b) {
  const int bb = b * b;
  std::vector<float> s(bb), t(bb), d(bb), dv(b * (b - 1) / 2);
  for (int e = 0; e < bb; ++e) arith::cayley_grad_init(e, r, b, s.data());
  for (int e = 0; e < bb; ++e) arith::cayley_grad_left(e, s.data(), g, b, t.data());
  for (int e = 0; e < bb; ++e) arith::cayley_grad_right(e, t.data(), s.data(), b, d.data());
  for (int e = 0; e < bb; ++e) arith::skew_grad_vector(e, d.data(), b, dv.data());
  return dv;
}

// Against rotation_math's linalg_solve and its autograd. `scale` sets the size of Q's entries: the
// Cayley transform is exact for any Q, so large ones (rotations far from I) are checked too.
void check_cayley(int b, double scale) {
  SCOPED_TRACE("b = " + std::to_string(b) + ", scale = " + std::to_string(scale));
  const int blocks = 3, m = b * (b - 1) / 2;
  const auto ref = oft::test::rotation_reference(blocks, b, /*num_terms=*/0, scale, b);
  const std::vector<float> v = values(ref.vec), g = values(ref.grad);
  std::vector<float> r, dv;
  for (int k = 0; k < blocks; ++k) {
    const auto rk = cayley_forward(v.data() + k * m, b);
    const auto dvk = cayley_backward(rk.data(), g.data() + k * b * b, b);
    r.insert(r.end(), rk.begin(), rk.end());
    dv.insert(dv.end(), dvk.begin(), dvk.end());
  }
  EXPECT_TRUE(close(tensor(r, {blocks, b, b}), ref.blocks, 1e-5, "rotation blocks"));
  EXPECT_TRUE(close(tensor(dv, {blocks, m}), ref.vec_grad, 1e-5, "skew vector gradient"));
}

// y = x . blockdiag(R) by add_rows_times_block (8 rows a call, two rows apart), and dR by add_tile_xty over
// two token tiles split in three, as the kernels tile them: on padded copies (padded_width, tile_stride) with
// zeros in the padding; against rotate_rows and its autograd.
void check_rotate(int b, bool shared) {
  SCOPED_TRACE("b = " + std::to_string(b) + (shared ? ", shared block" : ""));
  const int oft_blocks = 4, features = oft_blocks * b, tokens = 16, tile_rows = 10, splits = 3;
  const int stored = shared ? 1 : oft_blocks, pw = arith::padded_width(b), stride = arith::tile_stride(b);
  at::manual_seed(b + (shared ? 100 : 0));
  const at::Tensor x = at::randn({tokens, features});
  const at::Tensor dy = at::randn({tokens, features});
  const at::Tensor blocks = at::randn({stored, b, b}).requires_grad_();
  const at::Tensor expected = oft::math::rotate_rows(x, blocks);
  const at::Tensor expected_grad = torch::autograd::grad({expected}, {blocks}, {dy})[0];

  const std::vector<float> xv = values(x), gv = values(dy), rv = values(blocks.detach());
  std::vector<float> y(tokens * features), d(stored * b * b, 0.0f);
  // Rows t of block k, padded: (tokens, stride) with zeros past b.
  const auto padded_rows = [&](const std::vector<float>& v, int k) {
    std::vector<float> p(tokens * stride, 0.0f);
    for (int t = 0; t < tokens; ++t)
      for (int i = 0; i < b; ++i) p[t * stride + i] = v[t * features + k * b + i];
    return p;
  };
  for (int k = 0; k < oft_blocks; ++k) {
    std::vector<float> r(pw * pw, 0.0f);
    for (int i = 0; i < b; ++i)
      for (int j = 0; j < b; ++j) r[i * pw + j] = rv[(shared ? 0 : k * b * b) + i * b + j];
    const std::vector<float> xs = padded_rows(xv, k), gs = padded_rows(gv, k);
    for (int row = 0; row < 2; ++row)
      for (int col = 0; col < pw; col += 4) {
        float out[8][4] = {};
        arith::add_rows_times_block(xs.data() + row * stride, 2 * stride, r.data(), pw, col, out);
        for (int q = 0; q < 8; ++q)
          for (int c = 0; c < 4 && col + c < b; ++c) y[(row + 2 * q) * features + k * b + col + c] = out[q][c];
      }
    for (int first = 0; first < tokens; first += tile_rows) {
      const int rows = std::min(tile_rows, tokens - first);
      for (int row = 0; row < pw; row += 4)
        for (int col = 0; col < pw; col += 4)
          for (int split = 0; split < splits; ++split) {
            float out[4][4] = {};
            arith::add_tile_xty(xs.data() + first * stride, gs.data() + first * stride, stride, split, splits, rows,
                                row, col, out);
            for (int p = 0; p < 4 && row + p < b; ++p)
              for (int c = 0; c < 4 && col + c < b; ++c)
                d[(shared ? 0 : k * b * b) + (row + p) * b + col + c] += out[p][c];
          }
    }
  }
  EXPECT_TRUE(close(tensor(y, {tokens, features}), expected.detach(), 1e-5, "rotated rows"));
  EXPECT_TRUE(close(tensor(d, {stored, b, b}), expected_grad, 1e-5, "block gradient"));
}

TEST(RotationArith, CayleyNeumannForwardAndBackwardMatchRotationMath) {
  for (const int b : {2, 3, 5, 8, 32, 64})
    for (const int num_terms : {2, 3, 4, 5, 7}) check_neumann(b, num_terms);
}

TEST(RotationArith, ExactCayleyForwardAndBackwardMatchRotationMath) {
  for (const int b : {2, 3, 5, 8, 32, 64})
    for (const double scale : {0.3 / b, 0.5, 3.0}) check_cayley(b, scale);
}

TEST(RotationArith, BlockRotationAndItsGradientMatchRotateRows) {
  for (const int b : {2, 3, 16, 64})
    for (const bool shared : {false, true}) check_rotate(b, shared);
}

TEST(RotationArith, TriangleIndexIsPeftsRowMajorOrder) {
  const int b = 6;
  const at::Tensor vec = at::arange(b * (b - 1) / 2, at::kFloat).view({1, -1});
  const at::Tensor q = oft::math::skew_symmetric(vec, b)[0];
  for (int i = 0; i < b; ++i)
    for (int j = 0; j < b; ++j)
      EXPECT_EQ(arith::skew_entry(vec.data_ptr<float>(), i, j, b), q[i][j].item<float>()) << i << "," << j;
}

}  // namespace
