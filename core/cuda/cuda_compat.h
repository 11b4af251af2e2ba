#pragma once
// What kernel code spells differently under nvcc and in plain C++. Kernel headers (*.cuh) compile both
// ways: under nvcc, and on the CPU in tests, where tests/cuda/cuda_emulation.h is included first.
#if !defined(OFT_UNROLL)  // also defined, alike, by rotation_arith.h (plain C++ tests include it alone)
#if defined(__CUDACC__)
#define OFT_UNROLL _Pragma("unroll")
#else
#define OFT_UNROLL
#endif
#endif

#if defined(__CUDACC__)
// The launch's dynamic shared memory, as an array of `type`.
#define OFT_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
// At most `threads` per block and at least `blocks` resident per multiprocessor: caps the registers.
#define OFT_LAUNCH_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#else
#define OFT_LAUNCH_BOUNDS(threads, blocks)
#if !defined(OFT_DYNAMIC_SHARED)
#error "kernel code outside nvcc needs tests/cuda/cuda_emulation.h included first"
#endif
#endif
