#pragma once
// One warp's tensor-core product D += A . B of a 16 x 16 matrix A and a 16 x 8 matrix B in bf16 or fp16, summed in
// fp32: PTX's mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32 (sm_80 and later). The products are
// exact; the tensor cores add them (and C) with their own alignment and truncation, not IEEE fp32 rounding, so
// callers that sum many products start each mma from zero and add its result in fp32. Lane l, with
// g = l / 4 and t = l % 4, holds (PTX ISA, "Matrix fragments for mma.m16n8k16", low half first):
//   a[0] = A[g][2t, 2t+1]   a[1] = A[g+8][2t, 2t+1]   a[2] = A[g][2t+8, 2t+9]   a[3] = A[g+8][2t+8, 2t+9]
//   b[0] = B[2t, 2t+1][g]   b[1] = B[2t+8, 2t+9][g]
//   d = D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]
// Outside nvcc (tests), tests/cuda/cuda_emulation.h provides emulated_mma_m16n8k16 with the same contract.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "oft/sdk/cuda/float16_bits.cuh"

namespace oft::cuda {
namespace {

// Two 16-bit values in one register, `low` in the low half (the order of the fragments above).
template <class T>
__device__ inline uint32_t pack_pair(T low, T high) {
  return sdk::cuda::bits_of(low) | static_cast<uint32_t>(sdk::cuda::bits_of(high)) << 16;
}

template <class T>
__device__ inline void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#elif defined(__CUDA_ARCH__)
  __trap();  // launchers pick these kernels only for images of sm_80 and later (tensor_cores_run_on_current_device)
#elif !defined(__CUDACC__)
  emulated_mma_m16n8k16<T>(d, a, b);
#else
  (void)d, (void)a, (void)b;  // nvcc's host pass: device code only
#endif
}

}  // namespace
}  // namespace oft::cuda
