#pragma once
// The aqlm plugin's CUDA kernel on raw device pointers (no LibTorch here, so nvcc never parses its headers).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace oft::aqlm::cuda {

// The element type of the codebooks and of W.
enum class Dtype { Float32, Float16, BFloat16 };

// out, W (out_features, in_features) in `dtype`, one thread per value: the codewords of the value's code tuple summed
// in float32 codebook by codebook from 0, rounded to `dtype` as aqlm's CPU embedding_bag rounds (bf16 ties away from
// zero), times the output group's scale in float32, rounded to `dtype`. codes [N/og, K/ig, codebook_count] int8
// (nbits <= 8) or int16 as aqlm stores them (read mod 2^nbits); codebooks [codebook_count, 2^nbits, og, ig] of
// `dtype`; scales N/og float32; all contiguous. Launches on `stream`; returns the launch's error.
cudaError_t dequantize(const void* codes, bool wide_codes, const void* codebooks, const float* scales,
                       int codebook_count, int nbits, int64_t out_group, int64_t in_group, int64_t out_features,
                       int64_t in_features, Dtype dtype, void* out, cudaStream_t stream);

}  // namespace oft::aqlm::cuda
