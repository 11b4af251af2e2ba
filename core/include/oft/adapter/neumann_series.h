#pragma once
// PEFT's (>= 0.18) Cayley-Neumann series with N terms: R = I + sum_{k=1}^{K} c_k Q^k with c_k = 2, except that
// for N >= 3 the highest power has c_K = 1 and K = max(N - 1, 3) (PEFT always adds Q^2 with 2 and then one more
// power, so N = 3 and N = 4 coincide). N = 2: I + 2Q. One definition for LibTorch's reference
// (rotation_math), the CPU autograd node and the CUDA kernels: free of LibTorch, and usable in device code.
#if defined(__CUDACC__)
#define OFT_SERIES_FUNCTION __host__ __device__ constexpr inline
#else
#define OFT_SERIES_FUNCTION constexpr inline
#endif

namespace oft::neumann {

// K, the highest power of Q the series adds.
OFT_SERIES_FUNCTION int highest_power(int num_terms) {
  return num_terms <= 2 ? 1 : (num_terms < 4 ? 3 : num_terms - 1);
}

// c_k, the coefficient of Q^k (c_0 = 1: the identity).
OFT_SERIES_FUNCTION float coefficient(int k, int num_terms) {
  return k == 0 || (num_terms >= 3 && k == highest_power(num_terms)) ? 1.0f : 2.0f;
}

}  // namespace oft::neumann
