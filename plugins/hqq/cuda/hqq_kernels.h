#pragma once
// The hqq plugin's CUDA kernel on raw device pointers (no LibTorch here, so nvcc never parses its headers).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace oft::hqq::cuda {

// The element type of a step's result.
enum class Dtype { Float32, Float16, BFloat16 };

// out, the (rows, cols) code matrix's values (W (out, in) in row-major order): (code - zero) in float32 rounded to
// `difference`, times scale in float32 rounded to `product`, one thread per value. packed: (packed rows, cols) bytes
// for codes of 1, 2, 4 or 8 bits (rows a multiple of 8 / bits), int32 words for 3 bits (rows padded to a multiple of
// 10), the first plane in the most significant bits. zero of `difference`, scale and out of `product`; the zero and
// scale of value (r, c) at r * stat_row_stride + c * stat_col_stride. Launches on `stream`; returns the launch's
// error.
cudaError_t dequantize(const void* packed, const void* zero, const void* scale, int64_t stat_row_stride,
                       int64_t stat_col_stride, int bits, int64_t rows, int64_t cols, Dtype difference, Dtype product,
                       void* out, cudaStream_t stream);

}  // namespace oft::hqq::cuda
