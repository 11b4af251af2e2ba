#include "int8_training_weight.h"

#include <stdexcept>

#include <ATen/Parallel.h>
#include <ATen/ops/mul.h>

namespace oft::bnb {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
// Weight rows per parallel task.
constexpr int64_t kRowsPerTask = 16;

template <c10::ScalarType kDtype, typename T>
__attribute__((target("avx2,f16c"))) void rows_in_8_lanes(const int8_t* cb, const float* row_scales, int64_t begin,
                                                          int64_t end, int64_t columns, T* out) {
  for (int64_t r = begin; r < end; ++r) {
    const int8_t* codes = cb + r * columns;
    T* row = out + r * columns;
    const __m256 scale = _mm256_set1_ps(row_scales[r]);
    int64_t k = 0;
    for (; k + 8 <= columns; k += 8) {
      const __m128i eight = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + k));
      const __m256 values = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eight));
      sdk::store_in_8_lanes(row + k, sdk::rounded_to<kDtype>(_mm256_mul_ps(values, scale)));
    }
    for (; k < columns; ++k) row[k] = static_cast<T>(static_cast<float>(codes[k]) * row_scales[r]);
  }
}
#endif

}  // namespace

void dequantize_int8_for_training_into(const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& out,
                                       sdk::RoundingPath path) {
  if (cb.scalar_type() != at::kChar || cb.dim() != 2 || out.sizes() != cb.sizes() || scb.numel() != cb.size(0))
    throw std::invalid_argument(
        "bitsandbytes 8-bit: expected int8 (out, in) codes, one SCB per row and an output "
        "of the codes' sizes");
  // The rows' scales as MatMul8bitFp computes them (float32, the scalar rounded to float32 first).
  const at::Tensor row_scales = at::mul(scb.to(at::kFloat), 1.0 / 127.0).reshape({-1}).contiguous();
#ifdef OFT_SDK_X86_ROUNDING
  const bool rows_in_memory = cb.device().is_cpu() && out.device().is_cpu() && scb.device().is_cpu() &&
                              cb.is_contiguous() && out.is_contiguous();
  if (rows_in_memory && sdk::run_in_8_lanes(out.scalar_type(), path, [&](auto dtype) {
        constexpr c10::ScalarType kDtype = decltype(dtype)::value;
        using T = c10::impl::ScalarTypeToCPPTypeT<kDtype>;
        const int8_t* codes = cb.const_data_ptr<int8_t>();
        const float* scales = row_scales.const_data_ptr<float>();
        T* values = out.mutable_data_ptr<T>();
        const int64_t columns = cb.size(1);
        // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
        at::parallel_for(0, cb.size(0), kRowsPerTask, [&](int64_t begin, int64_t end) {
          rows_in_8_lanes<kDtype>(codes, scales, begin, end, columns, values);
        });
      }))
    return;
#endif
  out.copy_(cb);
  out.mul_(row_scales.unsqueeze(1));
}

}  // namespace oft::bnb
