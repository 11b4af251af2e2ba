#include "decode_4bit_8_lanes.h"

#include "oft/sdk/code_lookup_8_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::bnb {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
template <typename T>
__attribute__((target("avx2,f16c"))) void decode_bytes(const uint8_t* packed, int64_t bytes, const float* weights,
                                                       T* out) {
  const __m256 low = _mm256_loadu_ps(weights), high = _mm256_loadu_ps(weights + 8);
  // Output lanes 2i and 2i + 1 read byte i: its high nibble (shifted down by 4), then its low one.
  const __m128i first_four = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i last_four = _mm_setr_epi8(4, 4, 5, 5, 6, 6, 7, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i nibble_shift = _mm256_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0);
  for (int64_t i = 0; i < bytes; i += 8) {
    const __m128i eight = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed + i));
    for (int half = 0; half < 2; ++half) {
      const __m256i lanes = _mm256_srlv_epi32(
          _mm256_cvtepu8_epi32(_mm_shuffle_epi8(eight, half == 0 ? first_four : last_four)), nibble_shift);
      sdk::store_in_8_lanes(out + 2 * i + 8 * half, sdk::code_values_in_8_lanes<4, 0>(low, high, lanes));
    }
  }
}
#endif

}  // namespace

bool decode_4bit_in_8_lanes_available() {
#ifdef OFT_SDK_X86_ROUNDING
  return sdk::cpu_has_avx2() && sdk::cpu_has_f16c();
#else
  return false;
#endif
}

template <typename T>
void decode_4bit_in_8_lanes(const uint8_t* packed, int64_t bytes, const float (&weights)[16], T* out) {
#ifdef OFT_SDK_X86_ROUNDING
  decode_bytes(packed, bytes, weights, out);
#else
  (void)packed;
  (void)bytes;
  (void)weights;
  (void)out;
#endif
}

template void decode_4bit_in_8_lanes(const uint8_t*, int64_t, const float (&)[16], float*);
template void decode_4bit_in_8_lanes(const uint8_t*, int64_t, const float (&)[16], c10::Half*);
template void decode_4bit_in_8_lanes(const uint8_t*, int64_t, const float (&)[16], c10::BFloat16*);

}  // namespace oft::bnb
