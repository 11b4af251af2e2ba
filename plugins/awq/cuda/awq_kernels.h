#pragma once
// The awq plugin's CUDA kernels on raw device pointers (no LibTorch here, so nvcc never parses its headers).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace oft::awq::cuda {

// The element type of the scales and the output.
enum class Dtype { Float32, Float16, BFloat16 };

// gemm layout: out W^T (in, n_out) = (code(k, n) - zero(k / group_size, n)) * scale(k / group_size, n) in fp32,
// rounded once to `dtype`, one thread per value. qweight (in, words) and qzeros (in / group_size, words) hold the
// codes packed along the outputs (words = gemm_words(n_out, bits); AWQ's interleave at 4 bits, a bit stream at 2, 3
// and 8); scales (in / group_size, n_out) of `dtype`. Launches on `stream`; returns the launch's error.
cudaError_t dequantize_gemm(const uint32_t* qweight, const uint32_t* qzeros, const void* scales, int bits,
                            int64_t group_size, int64_t in, int64_t n_out, Dtype dtype, void* out, cudaStream_t stream);

// gemv layout (4 bits): out W (n_out, in), the same values. qweight (n_out, in / 8) and qzeros (n_out, zeros_width)
// in sequential nibbles, scales (n_out, 8 * zeros_width) of `dtype`; of zeros and scales the first in / group_size
// groups are read (the rest is padding). Launches on `stream`; returns the launch's error.
cudaError_t dequantize_gemv(const uint32_t* qweight, const uint32_t* qzeros, const void* scales, int64_t group_size,
                            int64_t zeros_width, int64_t in, int64_t n_out, Dtype dtype, void* out,
                            cudaStream_t stream);

}  // namespace oft::awq::cuda
