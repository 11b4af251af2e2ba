#pragma once
// The per-element arithmetic of liboft_cuda's rotation kernels, shared by the kernels (as __device__
// code) and a CPU test (plain C++), so the CPU suite checks the exact sums the GPU computes. Matrices
// are b x b, row-major, fp32; "element e" is (i, j) = (e / b, e % b). Free of CUDA and LibTorch headers.
#if defined(__CUDACC__)
#define OFT_HOST_DEVICE __host__ __device__ inline
#else
#define OFT_HOST_DEVICE inline
#endif

namespace oft::cuda::arith {

// Position of (i, j), i < j, in the row-major strict upper triangle of a b x b matrix: PEFT's skew vector.
OFT_HOST_DEVICE int triu_index(int i, int j, int b) { return i * b - i * (i + 1) / 2 + (j - i - 1); }

// Q[i][j] of the skew-symmetric block whose strict upper triangle is v.
OFT_HOST_DEVICE float skew_entry(const float* v, int i, int j, int b) {
  if (i < j) return v[triu_index(i, j, b)];
  if (i > j) return -v[triu_index(j, i, b)];
  return 0.0f;
}

// PEFT's (>= 0.18) Cayley-Neumann series with N terms: R = I + sum_{k=1}^{K} c_k Q^k with c_k = 2, except
// that for N >= 3 the last power has c_K = 1 and K = max(N - 1, 3) (PEFT always adds Q^2 with 2 and then
// one more power, so N = 3 and N = 4 coincide). N = 2: I + 2Q.
OFT_HOST_DEVICE int neumann_highest_power(int num_terms) {
  return num_terms <= 2 ? 1 : (num_terms < 4 ? 3 : num_terms - 1);
}

OFT_HOST_DEVICE float neumann_coefficient(int k, int num_terms) {
  return (num_terms >= 3 && k == neumann_highest_power(num_terms)) ? 1.0f : 2.0f;
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
  r[e] = (i == j ? 1.0f : 0.0f) + neumann_coefficient(1, num_terms) * qe;
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
  d[e] = neumann_coefficient(1, num_terms) * g[e];
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

// Backward, last phase (D complete): the skew vector's gradient, dv(i,j) = D[i][j] - D[j][i] for i < j.
OFT_HOST_DEVICE void neumann_grad_vector(int e, const float* d, int b, float* dv) {
  const int i = e / b, j = e % b;
  if (i < j) dv[triu_index(i, j, b)] = d[i * b + j] - d[j * b + i];
}

// y[j] of the row vector x (length b) times the block R: sum_i x[i] R[i][j].
OFT_HOST_DEVICE float row_times_block(const float* x, const float* r, int j, int b) {
  float sum = 0.0f;
  for (int i = 0; i < b; ++i) sum += x[i] * r[i * b + j];
  return sum;
}

// Element (i, j) of X^T . Y over `rows` token rows of two (rows x b) tiles: one tile's share of dR.
OFT_HOST_DEVICE float tile_xty_entry(const float* x, const float* y, int rows, int i, int j, int b) {
  float sum = 0.0f;
  for (int t = 0; t < rows; ++t) sum += x[t * b + i] * y[t * b + j];
  return sum;
}

}  // namespace oft::cuda::arith
