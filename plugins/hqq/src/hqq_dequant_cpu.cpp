#include "hqq_dequant_cpu.h"

#include <cstring>
#include <type_traits>

#include <ATen/ATen.h>

#include "hqq_dequant_math.h"
#include "hqq_packing.h"
#include "oft/sdk/code_lookup_8_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/simd4.h"

namespace oft::hqq {
namespace {

using sdk::simd4::Words;
using Bytes = uint8_t __attribute__((vector_size(16)));
using Halves = uint16_t __attribute__((vector_size(16)));

// The 16 bytes' values as four vectors of four 32-bit lanes, in order (interleaving with zeros: SSE2's and NEON's
// unpack instructions).
void widen(Bytes bytes, Words (&out)[4]) {
  const Bytes zero{};
  const Bytes low = __builtin_shufflevector(bytes, zero, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const Bytes high = __builtin_shufflevector(bytes, zero, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const Halves none{};
  int k = 0;
  for (const Bytes& part : {low, high}) {
    Halves halves;
    std::memcpy(&halves, &part, sizeof halves);
    const Halves first = __builtin_shufflevector(halves, none, 0, 8, 1, 9, 2, 10, 3, 11);
    const Halves second = __builtin_shufflevector(halves, none, 4, 12, 5, 13, 6, 14, 7, 15);
    std::memcpy(&out[k++], &first, sizeof first);
    std::memcpy(&out[k++], &second, sizeof second);
  }
}

// row[j] = code_j - z, code_j being bits [shift, shift + bits) of the row's packed element j.
void codes_minus_zero(const uint8_t* source, int64_t cols, uint32_t shift, uint32_t mask, float z, float* row) {
  int64_t j = 0;
  for (; j + 16 <= cols; j += 16) {
    Bytes bytes;
    std::memcpy(&bytes, source + j, sizeof bytes);
    Words codes[4];
    widen((bytes >> static_cast<uint8_t>(shift)) & static_cast<uint8_t>(mask), codes);
    for (int k = 0; k < 4; ++k) sdk::simd4::store(row + j + 4 * k, sdk::simd4::to_floats(codes[k]) - z);
  }
  for (; j < cols; ++j) row[j] = math::code_minus_zero(math::code_in(source[j], shift, mask), z);
}
void codes_minus_zero(const int32_t* source, int64_t cols, uint32_t shift, uint32_t mask, float z, float* row) {
  for (int64_t j = 0; j < cols; ++j)
    row[j] = math::code_minus_zero(math::code_in(static_cast<uint32_t>(source[j]), shift, mask), z);
}

// Calls row(source, shift, zero, scale, out_row) for code rows [begin, end): each row's values stay in L1 between
// the steps. Always inlined, so that the row inlines too in the callers compiled for AVX2.
template <typename Packed, typename Row>
[[gnu::always_inline]] inline void for_each_code_row(const Packed* packed, int64_t packed_rows, int64_t cols,
                                                     int64_t planes, uint32_t bits, int64_t begin, int64_t end,
                                                     const float* zero, const float* scale, float* out, Row row) {
  for (int64_t r = begin; r < end; ++r) {
    const math::CodePlace at = math::code_place(r, packed_rows, planes, bits);
    row(packed + at.packed_row * cols, at.shift, zero[r - begin], scale[r - begin], out + (r - begin) * cols);
  }
}

// One row on any CPU: the difference, then the product, each rounded in place.
template <typename Packed>
void dequantize_row(const Packed* source, int64_t cols, uint32_t shift, uint32_t mask, float z, float s,
                    const StepDtypes& dtypes, float* row) {
  codes_minus_zero(source, cols, shift, mask, z, row);
  sdk::round_in_place(row, cols, dtypes.difference);
  int64_t j = 0;
  for (; j + 4 <= cols; j += 4) sdk::simd4::store(row + j, sdk::simd4::load(row + j) * s);
  for (; j < cols; ++j) row[j] = math::times_scale(row[j], s);
  sdk::round_in_place(row, cols, dtypes.product);
}

#ifdef OFT_SDK_X86_ROUNDING
// One row of byte-packed kBits-bit codes whose two steps round to the same dtype, eight codes at a time (x86 with
// AVX2 and F16C): 8-bit codes through the steps with both roundings in registers; codes of up to 4 bits through the
// row's table of their 2^kBits values, computed by the same steps once per row (the same bits), and a lane
// permutation (sdk::code_values_in_8_lanes).
template <c10::ScalarType kDtype, int kBits>
struct ByteRowIn8Lanes {
  int64_t cols;
  __attribute__((target("avx2,f16c"))) void operator()(const uint8_t* source, uint32_t shift, float z, float s,
                                                       float* row) const {
    const __m256 zero = _mm256_set1_ps(z), scale = _mm256_set1_ps(s);
    int64_t j = 0;
    if constexpr (kBits == 8) {
      for (; j + 8 <= cols; j += 8) {
        const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(source + j)));
        _mm256_storeu_ps(row + j, steps_in_8_lanes<kDtype>(_mm256_cvtepi32_ps(bytes), zero, scale));
      }
    } else {
      const auto table = CodeRowTable<kDtype, kBits>::of(zero, scale);
      const __m128i count = _mm_cvtsi32_si128(static_cast<int>(shift));
      for (; j + 8 <= cols; j += 8) {
        const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(source + j)));
        _mm256_storeu_ps(row + j,
                         sdk::code_values_in_8_lanes<kBits, 0>(table.low, table.high, _mm256_srl_epi32(bytes, count)));
      }
    }
    if (j < cols)
      dequantize_row(source + j, cols - j, shift, (uint32_t{1} << kBits) - 1, z, s, StepDtypes{kDtype, kDtype},
                     row + j);
  }
};

template <c10::ScalarType kDtype, int kBits>
__attribute__((target("avx2,f16c"))) void dequantize_byte_rows_8_lanes(const uint8_t* packed, int64_t packed_rows,
                                                                       int64_t cols, int64_t begin, int64_t end,
                                                                       const float* zero, const float* scale,
                                                                       float* out) {
  for_each_code_row(packed, packed_rows, cols, 8 / kBits, kBits, begin, end, zero, scale, out,
                    ByteRowIn8Lanes<kDtype, kBits>{cols});
}

#endif

template <typename Packed>
void dequantize(const Packed* packed, int64_t packed_rows, int64_t cols, int64_t planes, uint32_t bits, int64_t begin,
                int64_t end, const float* zero, const float* scale, const StepDtypes& dtypes, sdk::RoundingPath path,
                float* out) {
#ifdef OFT_SDK_X86_ROUNDING
  // Byte packings whose two steps round to one dtype (hqq's usual case).
  if constexpr (std::is_same_v<Packed, uint8_t>)
    if (dtypes.difference == dtypes.product && sdk::run_in_8_lanes(dtypes.product, path, [&](auto dtype) {
          constexpr c10::ScalarType kDtype = decltype(dtype)::value;
          switch (bits) {
            case 8:
              dequantize_byte_rows_8_lanes<kDtype, 8>(packed, packed_rows, cols, begin, end, zero, scale, out);
              break;
            case 4:
              dequantize_byte_rows_8_lanes<kDtype, 4>(packed, packed_rows, cols, begin, end, zero, scale, out);
              break;
            case 2:
              dequantize_byte_rows_8_lanes<kDtype, 2>(packed, packed_rows, cols, begin, end, zero, scale, out);
              break;
            default: dequantize_byte_rows_8_lanes<kDtype, 1>(packed, packed_rows, cols, begin, end, zero, scale, out);
          }
        }))
      return;
#endif
  const uint32_t mask = (uint32_t{1} << bits) - 1;
  for_each_code_row(packed, packed_rows, cols, planes, bits, begin, end, zero, scale, out,
                    [&](const Packed* source, uint32_t shift, float z, float s, float* row) {
                      dequantize_row(source, cols, shift, mask, z, s, dtypes, row);
                    });
}

}  // namespace

StepDtypes step_dtypes(c10::ScalarType compute, const at::Tensor& zero, const at::Tensor& scale) {
  const c10::ScalarType difference = c10::promoteTypes(compute, zero.scalar_type());
  return {difference, c10::promoteTypes(difference, scale.scalar_type())};
}

bool code_rows_supported(const StepDtypes& dtypes) {
  const auto roundable = [](c10::ScalarType t) { return t == at::kFloat || t == at::kHalf || t == at::kBFloat16; };
  return roundable(dtypes.difference) && roundable(dtypes.product);
}

void dequantize_code_rows(const at::Tensor& packed, const std::string& packing, int64_t begin, int64_t end,
                          const at::Tensor& zero, const at::Tensor& scale, const StepDtypes& dtypes,
                          const at::Tensor& out, sdk::RoundingPath path) {
  const at::Tensor z = zero.reshape({-1}).to(at::kFloat).contiguous(),
                   s = scale.reshape({-1}).to(at::kFloat).contiguous();
  const int64_t n = planes(packing), cols = packed.size(1);
  const auto bits = static_cast<uint32_t>(code_bits(packing));
  const auto run = [&](const auto* words) {
    dequantize(words, packed.size(0), cols, n, bits, begin, end, z.data_ptr<float>(), s.data_ptr<float>(), dtypes, path,
               out.data_ptr<float>());
  };
  if (packed.scalar_type() == at::kInt)
    run(packed.data_ptr<int32_t>());
  else
    run(packed.data_ptr<uint8_t>());
}

}  // namespace oft::hqq
