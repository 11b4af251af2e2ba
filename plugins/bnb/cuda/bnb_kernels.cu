// Host launchers of bnb_kernels.cuh: each returns early on empty work (an empty grid is a launch error) and
// launches on the given stream with the kernel's LaunchShape.
#include "bnb_kernels.h"

#include "bnb_kernels.cuh"

namespace oft::bnb::cuda {
namespace {

template <typename T>
cudaError_t launch_dequantize_4bit(const uint8_t* packed, const float* absmax, bool nf4, int64_t blocksize, int64_t n,
                                   void* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;  // an empty grid is a launch error
  const LaunchShape shape = dequantize_4bit_shape(n);
  dequantize_4bit_kernel<T>
      <<<shape.blocks, shape.threads, 0, stream>>>(packed, absmax, nf4, blocksize, n, static_cast<T*>(out));
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_dequantize_int8(const int8_t* cb, const float* scb, int64_t rows, int64_t cols, void* out,
                                   cudaStream_t stream) {
  if (rows * cols == 0) return cudaSuccess;
  const LaunchShape shape = elementwise_shape(rows * cols);
  dequantize_int8_kernel<T>
      <<<shape.blocks, shape.threads, 0, stream>>>(cb, scb, cols, rows * cols, static_cast<T*>(out));
  return cudaGetLastError();
}

template <typename T, int kMaxTokens>
cudaError_t launch_gemv(const void* x, int tokens, int64_t in, int64_t out, const uint8_t* packed,
                        const BlockScales& scales, bool nf4, int64_t blocksize, const void* bias, bool vectorized,
                        void* y, cudaStream_t stream) {
  if (out == 0) return cudaSuccess;
  const LaunchShape shape = gemv_shape(out);
  gemv_4bit_kernel<T, kMaxTokens><<<shape.blocks, shape.threads, 0, stream>>>(
      static_cast<const T*>(x), tokens, in, out, packed, scales, nf4, blocksize, static_cast<const T*>(bias),
      vectorized, static_cast<T*>(y));
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_gemv_for_tokens(const void* x, int64_t tokens, int64_t in, int64_t out, const uint8_t* packed,
                                   const BlockScales& scales, bool nf4, int64_t blocksize, const void* bias,
                                   bool vectorized, void* y, cudaStream_t stream) {
  return with_token_bound(tokens, [&](auto bound) {
    return launch_gemv<T, decltype(bound)::value>(x, static_cast<int>(tokens), in, out, packed, scales, nf4, blocksize,
                                                  bias, vectorized, y, stream);
  });
}

}  // namespace

cudaError_t dequantize_nested_absmax(const uint8_t* codes, const float* map, const float* nested_absmax, float offset,
                                     int64_t nblocks, float* out, cudaStream_t stream) {
  if (nblocks == 0) return cudaSuccess;
  const LaunchShape shape = elementwise_shape(nblocks);
  nested_absmax_kernel<<<shape.blocks, shape.threads, 0, stream>>>(codes, map, nested_absmax, offset, nblocks, out);
  return cudaGetLastError();
}

cudaError_t dequantize_4bit(const uint8_t* packed, const float* absmax, bool nf4, int64_t blocksize, int64_t n,
                            Dtype dtype, void* out, cudaStream_t stream) {
  switch (dtype) {
    case Dtype::Float16: return launch_dequantize_4bit<__half>(packed, absmax, nf4, blocksize, n, out, stream);
    case Dtype::BFloat16: return launch_dequantize_4bit<__nv_bfloat16>(packed, absmax, nf4, blocksize, n, out, stream);
    default: return launch_dequantize_4bit<float>(packed, absmax, nf4, blocksize, n, out, stream);
  }
}

cudaError_t dequantize_int8(const int8_t* cb, const float* scb, int64_t rows, int64_t cols, Dtype dtype, void* out,
                            cudaStream_t stream) {
  switch (dtype) {
    case Dtype::Float16: return launch_dequantize_int8<__half>(cb, scb, rows, cols, out, stream);
    case Dtype::BFloat16: return launch_dequantize_int8<__nv_bfloat16>(cb, scb, rows, cols, out, stream);
    default: return launch_dequantize_int8<float>(cb, scb, rows, cols, out, stream);
  }
}

cudaError_t gemv_4bit(const void* x, int64_t tokens, int64_t in, int64_t out, const uint8_t* packed,
                      const BlockScales& scales, bool nf4, int64_t blocksize, const void* bias, bool vectorized,
                      Dtype dtype, void* y, cudaStream_t stream) {
  switch (dtype) {
    case Dtype::Float16:
      return launch_gemv_for_tokens<__half>(x, tokens, in, out, packed, scales, nf4, blocksize, bias, vectorized, y,
                                            stream);
    case Dtype::BFloat16:
      return launch_gemv_for_tokens<__nv_bfloat16>(x, tokens, in, out, packed, scales, nf4, blocksize, bias, vectorized,
                                                   y, stream);
    default:
      return launch_gemv_for_tokens<float>(x, tokens, in, out, packed, scales, nf4, blocksize, bias, vectorized, y,
                                           stream);
  }
}

}  // namespace oft::bnb::cuda
