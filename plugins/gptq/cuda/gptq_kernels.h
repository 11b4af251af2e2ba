#pragma once
// The gptq plugin's CUDA kernel on raw device pointers (no LibTorch here, so nvcc never parses its headers).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace oft::gptq::cuda {

enum class Dtype { Float32, Float16, BFloat16 };

// out (in, n_out) in `dtype` = (code(k, n) - zeros[g_idx[k], n]) * scales[g_idx[k], n], one thread per value;
// qweight holds the codes as a bit stream along k (32 values in `bits` words); zeros and scales have `groups`
// rows, and a g_idx value outside [0, groups) reads the nearest one. Launches on `stream`; returns the
// launch's error.
cudaError_t dequantize_kn(const uint32_t* qweight, const float* zeros, const float* scales, const int32_t* g_idx,
                          int64_t groups, int bits, int64_t in, int64_t n_out, Dtype dtype, void* out,
                          cudaStream_t stream);

}  // namespace oft::gptq::cuda
