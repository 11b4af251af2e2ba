#pragma once
// Rounding floats to the nearest fp16 or bf16 value, kept as float: the values x.to(dtype).to(kFloat) has (round
// to nearest, ties to even; fp16 keeps its subnormals and overflows to infinity; NaN stays NaN). Formats whose
// reference dequantizes in fp16/bf16 round every step; doing it in registers inside the plugin's loop replaces
// a conversion pass, an allocation and a copy back per step. RoundToHalf and RoundToBFloat16 are integer bit
// operations in sdk::simd4 lanes, for any CPU; round_in_place takes x86's eight-lane instructions (F16C, AVX2)
// where the CPU has them. Every path gives the same bits (tested against c10::Half and c10::BFloat16).
//
// Header-only, not part of the plugin ABI (tests/abi leaves it out): each plugin compiles its own copy.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "oft/sdk/cpu_features.h"
#include "oft/sdk/simd4.h"

namespace oft::sdk {

struct RoundToHalf {
  simd4::Floats operator()(simd4::Floats v) const {
    using simd4::Floats, simd4::Words;
    const Words bits = simd4::bits_of(v);
    const Words sign = bits & 0x80000000u, magnitude = bits ^ sign;
    // Normal fp16 range (|x| >= 2^-14): keep 11 significant bits, rounding the 13 dropped ones to nearest even;
    // a carry moves into the exponent as it should. Anything that rounds above fp16's largest value, 65504,
    // reaches 65536 here and is infinity in fp16.
    Words normal = (magnitude + 0xfffu + ((magnitude >> 13) & 1u)) & 0xffffe000u;
    normal = normal >= 0x47800000u ? Words{} + 0x7f800000u : normal;
    // Below 2^-14 fp16 steps by 2^-24: adding 0.5 (whose float step is 2^-24) rounds there in hardware, to
    // nearest even; subtracting it again is exact.
    const Words subnormal = simd4::bits_of((simd4::floats_of(magnitude) + 0.5f) - 0.5f);
    Words rounded = magnitude < 0x38800000u ? subnormal : normal;
    rounded = magnitude > 0x7f800000u ? magnitude | 0x00400000u : rounded;  // NaN: quiet, as conversions make it
    return simd4::floats_of(rounded | sign);
  }
};

struct RoundToBFloat16 {
  simd4::Floats operator()(simd4::Floats v) const {
    using simd4::Words;
    const Words bits = simd4::bits_of(v);
    // Keep the upper 16 bits, rounding the lower ones to nearest even (overflow carries to infinity).
    Words rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
    rounded = (bits & 0x7fffffffu) > 0x7f800000u ? bits | 0x00400000u : rounded;  // NaN: quiet
    return simd4::floats_of(rounded);
  }
};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The build targets baseline x86-64 (SSE2: four lanes). Where the CPU has them, eight-lane paths: F16C converts 8
// floats to fp16 and back in two instructions (round to nearest even, fp16 subnormals kept, as RoundToHalf), and
// AVX2 runs RoundToBFloat16's integer steps on 8 lanes. Same bits every way (tested each way).
#define OFT_SDK_X86_ROUNDING 1
// Eight floats rounded to fp16 / bf16 values in registers, for plugins' own eight-lane loops.
__attribute__((target("avx,f16c"))) inline __m256 rounded_to_half(__m256 v) {
  return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("avx2"))) inline __m256 rounded_to_bfloat16(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_and_si256(_mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)),
                                           _mm256_set1_epi32(static_cast<int>(0xffff0000u)));
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  const __m256i quiet = _mm256_or_si256(bits, _mm256_set1_epi32(0x00400000));
  return _mm256_castsi256_ps(_mm256_blendv_epi8(rounded, quiet, nan));
}
// Eight floats rounded to kDtype's values (kFloat: unchanged), for loops compiled for AVX2 + F16C that pick the
// dtype at compile time.
template <c10::ScalarType kDtype>
__attribute__((target("avx2,f16c"))) inline __m256 rounded_to(__m256 v) {
  static_assert(kDtype == c10::kFloat || kDtype == c10::kHalf || kDtype == c10::kBFloat16);
  if constexpr (kDtype == c10::kHalf)
    return rounded_to_half(v);
  else if constexpr (kDtype == c10::kBFloat16)
    return rounded_to_bfloat16(v);
  else
    return v;
}
// Eight values stored as T (float, c10::Half or c10::BFloat16) widened to floats: exact.
template <typename T>
__attribute__((target("avx2,f16c"))) inline __m256 load_in_8_lanes(const T* values) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm256_loadu_ps(values);
  } else {
    const __m128i stored = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values));
    if constexpr (std::is_same_v<T, c10::Half>) {
      return _mm256_cvtph_ps(stored);
    } else {
      static_assert(std::is_same_v<T, c10::BFloat16>, "load_in_8_lanes: expected float, c10::Half or c10::BFloat16");
      return _mm256_castsi256_ps(
          _mm256_slli_epi32(_mm256_cvtepu16_epi32(stored), 16));  // a bf16 is a float's high half
    }
  }
}
// Eight floats that hold T's values (rounded_to<T's dtype> gave them) stored as T (float, c10::Half or
// c10::BFloat16): exact, so any conversion does; bf16 keeps each float's high half.
template <typename T>
__attribute__((target("avx2,f16c"))) inline void store_in_8_lanes(T* out, __m256 values) {
  if constexpr (std::is_same_v<T, float>) {
    _mm256_storeu_ps(out, values);
  } else if constexpr (std::is_same_v<T, c10::Half>) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_cvtps_ph(values, _MM_FROUND_TO_NEAREST_INT));
  } else {
    static_assert(std::is_same_v<T, c10::BFloat16>, "store_in_8_lanes: expected float, c10::Half or c10::BFloat16");
    // The high halves: the whole value after rounding (a NaN keeps its quiet bit, which is in the high half).
    const __m256i high_halves = _mm256_srli_epi32(_mm256_castps_si256(values), 16);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm_packus_epi32(_mm256_castsi256_si128(high_halves), _mm256_extracti128_si256(high_halves, 1)));
  }
}
__attribute__((target("avx,f16c"))) inline void round_to_half_f16c(float* values, int64_t count) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(values + i, rounded_to_half(_mm256_loadu_ps(values + i)));
  for (; i < count; ++i)
    values[i] = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(values[i]), _MM_FROUND_TO_NEAREST_INT)));
}
__attribute__((target("avx2"))) inline void round_to_bfloat16_avx2(float* values, int64_t count) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(values + i, rounded_to_bfloat16(_mm256_loadu_ps(values + i)));
  for (; i < count; ++i) values[i] = RoundToBFloat16{}(simd4::Floats{values[i], 0, 0, 0})[0];
}
#endif

enum class RoundingPath {
  kFastest,   // the CPU's eight-lane instructions where it has them
  kPortable,  // code for every CPU (what kFastest falls back to)
};

#ifdef OFT_SDK_X86_ROUNDING
// For a plugin's own eight-lane loop compiled for AVX2 + F16C that rounds with rounded_to: when `path` is kFastest,
// the CPU has AVX2 and F16C and `dtype` is Float, Half or BFloat16, calls
// loop(std::integral_constant<c10::ScalarType, dtype>{}) and returns true; otherwise returns false, and the caller
// takes its code for every CPU.
template <typename Loop>
bool run_in_8_lanes(c10::ScalarType dtype, RoundingPath path, Loop&& loop) {
  if (path != RoundingPath::kFastest || !cpu_has_avx2() || !cpu_has_f16c()) return false;
  switch (dtype) {
    case c10::kFloat: loop(std::integral_constant<c10::ScalarType, c10::kFloat>{}); return true;
    case c10::kHalf: loop(std::integral_constant<c10::ScalarType, c10::kHalf>{}); return true;
    case c10::kBFloat16: loop(std::integral_constant<c10::ScalarType, c10::kBFloat16>{}); return true;
    default: return false;
  }
}
#endif

// Whether run_in_8_lanes(dtype, kFastest, loop) runs `loop` on this CPU.
inline bool runs_in_8_lanes(c10::ScalarType dtype) {
#ifdef OFT_SDK_X86_ROUNDING
  return cpu_has_avx2() && cpu_has_f16c() && (dtype == c10::kFloat || dtype == c10::kHalf || dtype == c10::kBFloat16);
#else
  (void)dtype;
  return false;
#endif
}

// Whether a plugin's one-token product may run on this CPU: runs_in_8_lanes(dtype), and FMA, since the products add
// x times each weight into their sums by fused multiply-adds (one instruction where a multiply and an add take two:
// 10-30% at one token; the sums are no longer the tiles' bits, which only an order of summation matched anyway).
inline bool passes_run_in_8_lanes(c10::ScalarType dtype) {
#ifdef OFT_SDK_X86_ROUNDING
  return runs_in_8_lanes(dtype) && cpu_has_fma();
#else
  (void)dtype;
  return false;
#endif
}

#ifdef OFT_SDK_X86_ROUNDING
// For a plugin's one-token product (y = x · Wᵀ straight from its packed weights, `columns` outputs per pass over
// the inputs): calls pass(std::integral_constant<c10::ScalarType, dtype>{}, n0) for n0 = 0, columns, ... below
// out_features, the passes in parallel on ATen's intra-op threads. passes_run_in_8_lanes(dtype) must hold; the
// passes must touch only raw memory (workers start without the caller's thread-local state).
template <typename Pass>
void for_each_pass_in_8_lanes(c10::ScalarType dtype, int64_t out_features, int64_t columns, const Pass& pass) {
  run_in_8_lanes(dtype, RoundingPath::kFastest, [&](auto kind) {
    at::parallel_for(0, out_features / columns, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) pass(kind, p * columns);
    });
  });
}
#endif

// Rounds values[0, count) in place to `dtype`'s values (kFloat: unchanged; kHalf, kBFloat16; others throw).
inline void round_in_place(float* values, int64_t count, c10::ScalarType dtype,
                           RoundingPath path = RoundingPath::kFastest) {
  const auto round_portably = [&](auto round) {
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) simd4::store(values + i, round(simd4::load(values + i)));
    if (i < count) {  // the last 1-3 values through the same lanes
      simd4::Floats tail{};
      std::memcpy(&tail, values + i, static_cast<size_t>(count - i) * sizeof(float));
      tail = round(tail);
      std::memcpy(values + i, &tail, static_cast<size_t>(count - i) * sizeof(float));
    }
  };
  switch (dtype) {
    case c10::kFloat: return;
    case c10::kHalf:
#ifdef OFT_SDK_X86_ROUNDING
      if (path == RoundingPath::kFastest && cpu_has_f16c()) return round_to_half_f16c(values, count);
#endif
      return round_portably(RoundToHalf{});
    case c10::kBFloat16:
#ifdef OFT_SDK_X86_ROUNDING
      if (path == RoundingPath::kFastest && cpu_has_avx2()) return round_to_bfloat16_avx2(values, count);
#endif
      return round_portably(RoundToBFloat16{});
    default:
      throw std::invalid_argument(std::string("rounding to ") + c10::toString(dtype) +
                                  ": expected Float, Half or BFloat16");
  }
}

// round_in_place over a contiguous float tensor, in chunks on ATen's threads (serially inside a parallel region,
// e.g. a tile of tiled_dequantized_linear).
inline void round_tensor_in_place(const at::Tensor& values, c10::ScalarType dtype) {
  if (values.scalar_type() != c10::kFloat || !values.is_contiguous())
    throw std::invalid_argument("round_tensor_in_place: expected a contiguous float tensor, got " +
                                std::string(c10::toString(values.scalar_type())) +
                                (values.is_contiguous() ? "" : " (not contiguous)"));
  if (dtype == c10::kFloat) return;
  float* data = values.data_ptr<float>();
  at::parallel_for(0, values.numel(), int64_t{1} << 16,
                   [&](int64_t begin, int64_t end) { round_in_place(data + begin, end - begin, dtype); });
}

}  // namespace oft::sdk
