#pragma once
// What kernel code spells differently under nvcc and in plain C++. Kernel headers (*.cuh) compile both
// ways: under nvcc, and on the CPU in tests, where tests/cuda/cuda_emulation.h is included first.
#include "host_device.h"

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
