#pragma once
// The bnb plugin's CUDA kernels on raw device pointers (no LibTorch here, so nvcc never parses its headers).
// Each function launches on `stream` and returns the launch's error (cudaSuccess when it started).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace oft::bnb::cuda {

enum class Dtype { Float32, Float16, BFloat16 };

// out[i] = map[codes[i]] * nested_absmax[i / 256] + offset (float32), i < nblocks.
cudaError_t dequantize_nested_absmax(const uint8_t* codes, const float* map, const float* nested_absmax, float offset,
                                     int64_t nblocks, float* out, cudaStream_t stream);

// The n weights of a 4-bit tensor (codes 2i, 2i+1 in byte i; block b = elements [b*blocksize, ...)) in `dtype`.
cudaError_t dequantize_4bit(const uint8_t* packed, const float* absmax, bool nf4, int64_t blocksize, int64_t n,
                            Dtype dtype, void* out, cudaStream_t stream);

// out[r, c] = CB[r, c] * SCB[r] / 127 in `dtype`.
cudaError_t dequantize_int8(const int8_t* cb, const float* scb, int64_t rows, int64_t cols, Dtype dtype, void* out,
                            cudaStream_t stream);

// The absmax of each block of a 4-bit weight: float32 values, or with double quantization 8-bit codes the kernel
// decodes where it reads them, map[codes[b]] * nested_absmax[b / 256] + offset (no separate pass writing them).
struct BlockScales {
  const float* absmax = nullptr;  // null: the codes below
  const uint8_t* codes = nullptr;
  const float* map = nullptr;  // 256 values
  const float* nested_absmax = nullptr;
  float offset = 0.0f;
};

// y (tokens, out) = x (tokens, in) . W^T + bias, W (out, in) the 4-bit weight dequantized to `dtype`, never
// stored: one warp per output row, fp32 accumulation; x, y and bias (or null) in `dtype`; 1 <= tokens <= 16.
// `vectorized`: in % 32 == 0 and `packed` and `x` 16-byte aligned (each lane then reads 32 codes and each
// token's 32 inputs in 16-byte loads).
cudaError_t gemv_4bit(const void* x, int64_t tokens, int64_t in, int64_t out, const uint8_t* packed,
                      const BlockScales& scales, bool nf4, int64_t blocksize, const void* bias, bool vectorized,
                      Dtype dtype, void* y, cudaStream_t stream);

}  // namespace oft::bnb::cuda
