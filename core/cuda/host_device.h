#pragma once
// Spellings that device code shares with plain C++ (CPU tests compile the arithmetic and the kernels without nvcc):
// functions for both sides, and loops nvcc should unroll. Free of CUDA headers.
#if defined(__CUDACC__)
#define OFT_HOST_DEVICE __host__ __device__ inline
#define OFT_UNROLL _Pragma("unroll")
#else
#define OFT_HOST_DEVICE inline
#define OFT_UNROLL
#endif
