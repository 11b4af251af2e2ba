#pragma once
// Device code (CUDA kernels, and their CPU emulation in tests): 16-bit floats to and from float32 (rounding to
// nearest even, as c10::Half and c10::BFloat16 do), and the raw bits of one with the float32 they hold: kernels
// that load 16-bit activations 8 at a time (one 16-byte load) unpack them with these.
// oft_add_cuda_module puts the SDK's headers on the include path of a module's .cu files.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace oft::sdk::cuda {

__device__ inline float to_float(float v) { return v; }
__device__ inline float to_float(__half v) { return __half2float(v); }
__device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ inline T from_float(float v);
template <>
__device__ inline float from_float<float>(float v) {
  return v;
}
template <>
__device__ inline __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

__device__ inline uint16_t bits_of(__half v) { return __half_raw(v).x; }
__device__ inline uint16_t bits_of(__nv_bfloat16 v) { return __nv_bfloat16_raw(v).x; }

// The type argument only picks the format: float_of_bits(bits, static_cast<const T*>(nullptr)).
__device__ inline float float_of_bits(uint16_t bits, const __half*) {
  __half_raw raw;
  raw.x = bits;
  return __half2float(__half(raw));
}
__device__ inline float float_of_bits(uint16_t bits, const __nv_bfloat16*) {
  __nv_bfloat16_raw raw;
  raw.x = bits;
  return __bfloat162float(__nv_bfloat16(raw));
}

}  // namespace oft::sdk::cuda
