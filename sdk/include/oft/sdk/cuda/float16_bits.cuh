#pragma once
// Device code (CUDA kernels, and their CPU emulation in tests): 16-bit floats to and from float32 (rounding to
// nearest even, as c10::Half and c10::BFloat16 do), and the raw bits of one with the float32 they hold: kernels
// that load 16-bit activations 8 at a time (one 16-byte load) unpack them with these, and 16-byte runs of
// activations to and from float32.
// oft_add_cuda_module puts the SDK's headers on the include path of a module's .cu files.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_types.h>

#include <cstdint>
#include <cstring>

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

// Elements of T in 16 bytes: kernels move activations 16 bytes per access where pointers and sizes allow, so that
// each thread has several loads in flight (one element per thread leaves the GPU waiting on memory).
template <class T>
inline constexpr int kPer16Bytes = 16 / static_cast<int>(sizeof(T));

// 16 bytes at a 16-byte aligned address, as one access on the GPU (memcpy in the kernels' CPU emulation, where a
// reinterpreting access would break C++'s aliasing rules).
__device__ inline uint4 load16(const void* p) {
#if defined(__CUDACC__)
  return *static_cast<const uint4*>(p);
#else
  uint4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
#endif
}
__device__ inline void store16(void* p, uint4 v) {
#if defined(__CUDACC__)
  *static_cast<uint4*>(p) = v;
#else
  std::memcpy(p, &v, sizeof(v));
#endif
}

// The kPer16Bytes<T> values of T in 16 bytes (as load16 gives them, in memory order) as float32; T is float,
// __half or __nv_bfloat16.
template <class T>
__device__ inline void unpack_floats(uint4 bits, float (&v)[kPer16Bytes<T>]) {
  if constexpr (sizeof(T) == sizeof(float)) {
    std::memcpy(v, &bits, sizeof(bits));
  } else {
    const uint32_t words[4] = {bits.x, bits.y, bits.z, bits.w};
#if defined(__CUDACC__)
#pragma unroll  // (the CPU emulation's compiler knows no such pragma)
#endif
    for (int i = 0; i < 8; ++i)
      v[i] = float_of_bits(static_cast<uint16_t>(words[i / 2] >> (16 * (i % 2))), static_cast<const T*>(nullptr));
  }
}

// Float32 values rounded to T (to nearest even) and packed as unpack_floats reads them.
template <class T>
__device__ inline uint4 pack_floats(const float (&v)[kPer16Bytes<T>]) {
  uint4 bits;
  if constexpr (sizeof(T) == sizeof(float)) {
    std::memcpy(&bits, v, sizeof(bits));
  } else {
    uint32_t words[4];
#if defined(__CUDACC__)
#pragma unroll  // (the CPU emulation's compiler knows no such pragma)
#endif
    for (int i = 0; i < 4; ++i)
      words[i] = bits_of(from_float<T>(v[2 * i])) | static_cast<uint32_t>(bits_of(from_float<T>(v[2 * i + 1]))) << 16;
    bits = uint4{words[0], words[1], words[2], words[3]};
  }
  return bits;
}

}  // namespace oft::sdk::cuda
