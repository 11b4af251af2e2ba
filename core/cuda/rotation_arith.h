#pragma once
// The per-element arithmetic of liboft_cuda's rotation kernels, shared by the kernels (as __device__
// code) and a CPU test (plain C++), so the CPU suite checks the sums the GPU computes (in fp32 nvcc may fuse a
// product and its sum into one FMA, one rounding fewer: the GPU tests compare with a tolerance). Matrices
// are b x b, row-major, fp32; "element e" is (i, j) = (e / b, e % b). Free of CUDA and LibTorch headers.
#include "oft/adapter/neumann_series.h"

#include "host_device.h"

namespace oft::cuda::arith {

// Position of (i, j), i < j, in the row-major strict upper triangle of a b x b matrix: PEFT's skew vector.
OFT_HOST_DEVICE int triu_index(int i, int j, int b) { return i * b - i * (i + 1) / 2 + (j - i - 1); }

// Q[i][j] of the skew-symmetric block whose strict upper triangle is v.
OFT_HOST_DEVICE float skew_entry(const float* v, int i, int j, int b) {
  if (i < j) return v[triu_index(i, j, b)];
  if (i > j) return -v[triu_index(j, i, b)];
  return 0.0f;
}

// (X . Y)[i][j], or (X . (sign Y))[i][j].
OFT_HOST_DEVICE float matmul_entry(const float* x, const float* y, int i, int j, int b, float sign = 1.0f) {
  float sum = 0.0f;
  for (int l = 0; l < b; ++l) sum += x[i * b + l] * y[l * b + j];
  return sign * sum;
}

// Forward, first phase: Q and P = Q^1 from the skew vector, R = I + c_1 Q.
OFT_HOST_DEVICE void neumann_init(int e, const float* v, int b, int num_terms, float* q, float* p, float* r) {
  const int i = e / b, j = e % b;
  const float qe = skew_entry(v, i, j, b);
  q[e] = qe;
  p[e] = qe;
  r[e] = (i == j ? 1.0f : 0.0f) + neumann::coefficient(1, num_terms) * qe;
}

// Forward, one phase per k = 2..K: next = P . Q (= Q^k), R += c_k Q^k. Reads p and q (all elements).
OFT_HOST_DEVICE void neumann_step(int e, const float* q, const float* p, float* next, float* r, int b,
                                  float coefficient) {
  const float value = matmul_entry(p, q, e / b, e % b, b);
  next[e] = value;
  r[e] += coefficient * value;
}

// Backward. With A_j = (Q^T)^j = (-Q)^j and G = dL/dR, dL/dQ = sum_k c_k S_k where
// S_k = sum_{j<k} A_j G A_{k-1-j}, so S_1 = G and S_{k+1} = A_1 S_k + G A_k. First phase: Q, A = A_1,
// S = S_1, D = c_1 S_1 (D accumulates dL/dQ).
OFT_HOST_DEVICE void neumann_grad_init(int e, const float* v, const float* g, int b, int num_terms, float* q, float* a,
                                       float* s, float* d) {
  const float qe = skew_entry(v, e / b, e % b, b);
  q[e] = qe;
  a[e] = -qe;  // Q^T = -Q
  s[e] = g[e];
  d[e] = neumann::coefficient(1, num_terms) * g[e];
}

// Backward, one phase per k = 1..K-1: S_{k+1} = -Q S_k + G A_k, A_{k+1} = A_k (-Q), D += c_{k+1} S_{k+1}.
OFT_HOST_DEVICE void neumann_grad_step(int e, const float* q, const float* g, const float* a, const float* s,
                                       float* a_next, float* s_next, float* d, int b, float coefficient) {
  const int i = e / b, j = e % b;
  const float value = matmul_entry(q, s, i, j, b, -1.0f) + matmul_entry(g, a, i, j, b);
  s_next[e] = value;
  a_next[e] = matmul_entry(a, q, i, j, b, -1.0f);
  d[e] += coefficient * value;
}

// Backward, last phase of both Cayley variants (D = dL/dQ complete): the skew vector's gradient,
// dv(i,j) = D[i][j] - D[j][i] for i < j.
OFT_HOST_DEVICE void skew_grad_vector(int e, const float* d, int b, float* dv) {
  const int i = e / b, j = e % b;
  if (i < j) dv[triu_index(i, j, b)] = d[i * b + j] - d[j * b + i];
}

// Exact Cayley, R = (I - Q)(I + Q)^-1 = 2 (I + Q)^-1 - I (the two factors commute). The inverse comes from
// Gauss-Jordan elimination of the augmented b x 2b matrix M = [I + Q | I], without pivoting: I + Q has the
// identity as its symmetric part, so every pivot of the elimination is >= 1 in exact arithmetic.
// Element e of M is (i, c) = (e / 2b, e % 2b).
OFT_HOST_DEVICE void cayley_augment(int e, const float* v, int b, float* m) {
  const int i = e / (2 * b), c = e % (2 * b);
  m[e] = c < b ? (i == c ? 1.0f : 0.0f) + skew_entry(v, i, c, b) : (c - b == i ? 1.0f : 0.0f);
}

// Pivot k, first phase, one row r each: f[r] = M[r][k] / M[k][k] for r != k, and f[k] = M[k][k].
OFT_HOST_DEVICE void gauss_jordan_factor(int r, const float* m, int b, int k, float* f) {
  const float pivot = m[k * 2 * b + k];
  f[r] = r == k ? pivot : m[r * 2 * b + k] / pivot;
}

// Pivot k, second phase: every row but k loses f[r] times row k (row k is only read).
OFT_HOST_DEVICE void gauss_jordan_eliminate(int e, float* m, int b, int k, const float* f) {
  const int r = e / (2 * b), c = e % (2 * b);
  if (r != k) m[e] -= f[r] * m[k * 2 * b + c];
}

// Pivot k, third phase, one column c each: row k divided by its pivot.
OFT_HOST_DEVICE void gauss_jordan_normalize(int c, float* m, int b, int k, const float* f) { m[k * 2 * b + c] /= f[k]; }

// Forward, last phase (M = [I | (I + Q)^-1]): element e = (i, j) of R = 2 (I + Q)^-1 - I.
OFT_HOST_DEVICE float cayley_from_inverse(int e, const float* m, int b) {
  const int i = e / b, j = e % b;
  return 2.0f * m[i * 2 * b + b + j] - (i == j ? 1.0f : 0.0f);
}

// Backward. With A = I + Q and R = 2 A^-1 - I, dL/dQ = dL/dA = -2 A^-T G A^-T, and A^-1 = (R + I) / 2, so
// D = -1/2 S^T G S^T with S = R + I: the saved rotation is all the backward needs. First phase: S.
OFT_HOST_DEVICE void cayley_grad_init(int e, const float* r, int b, float* s) {
  s[e] = r[e] + (e / b == e % b ? 1.0f : 0.0f);
}

// Second phase: T = S^T G.
OFT_HOST_DEVICE void cayley_grad_left(int e, const float* s, const float* g, int b, float* t) {
  const int i = e / b, j = e % b;
  float sum = 0.0f;
  for (int l = 0; l < b; ++l) sum += s[l * b + i] * g[l * b + j];
  t[e] = sum;
}

// Third phase: D = -1/2 T S^T.
OFT_HOST_DEVICE void cayley_grad_right(int e, const float* t, const float* s, int b, float* d) {
  const int i = e / b, j = e % b;
  float sum = 0.0f;
  for (int l = 0; l < b; ++l) sum += t[i * b + l] * s[j * b + l];
  d[e] = -0.5f * sum;
}

// The rotation of activations works on shared-memory tiles whose rows are padded to whole groups of four
// floats (R likewise, pw x pw with zeros beyond b), so that every read takes four floats at once; a tile row
// is four floats longer still, so that the rows one warp reads at once start in different banks.
OFT_HOST_DEVICE int padded_width(int b) { return (b + 3) / 4 * 4; }
OFT_HOST_DEVICE int tile_stride(int b) { return padded_width(b) + 4; }

struct Four {
  float v[4];
};

// Four consecutive floats, 16-byte aligned: one vector load on the GPU.
OFT_HOST_DEVICE Four load_four(const float* p) {
#if defined(__CUDACC__)
  const float4 f = *reinterpret_cast<const float4*>(p);
  return {{f.x, f.y, f.z, f.w}};
#else
  return {{p[0], p[1], p[2], p[3]}};
#endif
}

// out[q][c] += sum over i < pw, in order, of x[q * row_step + i] * r[i * pw + col + c], for q < kRows and
// c < 4: one thread's kRows x 4 outputs of y = x . R. Each pass over i reads 4 + kRows groups of four floats
// for 16 kRows products, so shared memory keeps up with the arithmetic.
template <int kRows>
OFT_HOST_DEVICE void add_rows_times_block(const float* x, int row_step, const float* r, int pw, int col,
                                          float (&out)[kRows][4]) {
  for (int i = 0; i < pw; i += 4) {
    Four rows_of_r[4];
    OFT_UNROLL
    for (int p = 0; p < 4; ++p) rows_of_r[p] = load_four(r + (i + p) * pw + col);
    OFT_UNROLL
    for (int q = 0; q < kRows; ++q) {
      const Four xq = load_four(x + q * row_step + i);
      OFT_UNROLL
      for (int c = 0; c < 4; ++c) {
        OFT_UNROLL
        for (int p = 0; p < 4; ++p) out[q][c] += xq.v[p] * rows_of_r[p].v[c];
      }
    }
  }
}

// out[p][c] += sum over the tile rows t = first, first + step, ... < rows of x[t * stride + row + p] *
// dy[t * stride + col + c]: one thread's 4 x 4 share of dR = X^T dY over its rows of one tile.
OFT_HOST_DEVICE void add_tile_xty(const float* x, const float* dy, int stride, int first, int step, int rows, int row,
                                  int col, float (&out)[4][4]) {
  for (int t = first; t < rows; t += step) {
    const Four a = load_four(x + t * stride + row), g = load_four(dy + t * stride + col);
    OFT_UNROLL
    for (int p = 0; p < 4; ++p) {
      OFT_UNROLL
      for (int c = 0; c < 4; ++c) out[p][c] += a.v[p] * g.v[c];
    }
  }
}

}  // namespace oft::cuda::arith
