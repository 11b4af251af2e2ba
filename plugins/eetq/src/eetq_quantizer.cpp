#include "eetq_quantizer.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "oft/sdk/prefetch.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::eetq {

QuantizedWeight quantize_per_channel(const at::Tensor& weight, c10::ScalarType scales_dtype) {
  if (weight.dim() != 2 || !at::isFloatingType(weight.scalar_type()))
    throw std::invalid_argument(
        "eetq: the weight to quantize must be a 2-D floating tensor (out_features, "
        "in_features), got " +
        std::to_string(weight.dim()) + "-D " + c10::toString(weight.scalar_type()));
  if (scales_dtype != at::kHalf && scales_dtype != at::kFloat)
    throw std::invalid_argument(std::string("eetq: weight_scales dtype must be Half or Float, got ") +
                                c10::toString(scales_dtype));
  const at::Tensor w = weight.detach().to(at::kFloat).t();  // W^T (K, N), as EETQ's quantizer reads it
  if (!at::isfinite(w).all().item<bool>())
    throw std::invalid_argument("eetq: the weight to quantize has non-finite values");
  const at::Tensor m = w.abs().amax(0).mul_(1.0 / 128);  // exact: a power of two
  // The float quotient, rounded half away from zero (exact in double), clamped to int8.
  const at::Tensor quotient = (w / m).to(at::kDouble);
  at::Tensor rounded = at::where(quotient >= 0, (quotient + 0.5).floor(), (quotient - 0.5).ceil());
  rounded = at::where(m == 0, at::zeros_like(rounded), rounded);
  return {rounded.clamp(-128, 127).to(at::kChar).contiguous(), m.to(scales_dtype)};
}

namespace {

#ifdef OFT_SDK_X86_ROUNDING
// How many rows ahead a tile's codes are prefetched.
constexpr int64_t kPrefetchRows = 16;

// Rows [begin, end) of codes (row r at codes + r * ld) times the columns' scales, rounded to kRoundTo, into out.
template <c10::ScalarType kRoundTo>
__attribute__((target("avx2,f16c"))) void dequantize_rows_8_lanes(const int8_t* codes, int64_t ld, const float* scales,
                                                                  int64_t begin, int64_t end, int64_t cols,
                                                                  float* out) {
  for (int64_t r = begin; r < end; ++r) {
    const int8_t* c = codes + r * ld;
    float* o = out + r * cols;
    // A tile's columns are a short run of each row, a row apart: ask for a row ahead (sdk/prefetch.h).
    if (cols < ld && r + kPrefetchRows < end) sdk::prefetch_bytes(c + kPrefetchRows * ld, cols);
    int64_t n = 0;
    for (; n + 8 <= cols; n += 8) {
      const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + n));
      const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
      _mm256_storeu_ps(o + n, sdk::rounded_to<kRoundTo>(_mm256_mul_ps(q, _mm256_loadu_ps(scales + n))));
    }
    for (int64_t i = n; i < cols; ++i) o[i] = static_cast<float>(c[i]) * scales[i];
    sdk::round_in_place(o + n, cols - n, kRoundTo);
  }
}

template <c10::ScalarType kRoundTo>
void dequantize_8_lanes(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& out) {
  const at::Tensor s = scales.to(at::kFloat).contiguous();
  const int8_t* c = codes.const_data_ptr<int8_t>();
  const float* sp = s.const_data_ptr<float>();
  float* o = out.mutable_data_ptr<float>();
  const int64_t cols = codes.size(1), ld = codes.stride(0);
  at::parallel_for(0, codes.size(0), 16, [&](int64_t begin, int64_t end) {
    dequantize_rows_8_lanes<kRoundTo>(c, ld, sp, begin, end, cols, o);
  });
}
#endif

}  // namespace

void dequantize_float_kn_into(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& out,
                              sdk::RoundingPath path) {
  // EETQ's kernel dequantizes in fp16: q * scale rounded once to fp16. That product is exact in float (an 8-bit
  // code times an 11-bit significand), so it is computed in float and then rounded; the values are the same.
  // fp32 scales: one float product.
#ifdef OFT_SDK_X86_ROUNDING
  const bool rows_of_codes = codes.device().is_cpu() && codes.scalar_type() == at::kChar && codes.dim() == 2 &&
                             codes.stride(1) == 1 && out.is_contiguous() && out.scalar_type() == at::kFloat &&
                             out.sizes() == codes.sizes();
  if (rows_of_codes && sdk::run_in_8_lanes(scales.scalar_type(), path, [&](auto dtype) {
        dequantize_8_lanes<decltype(dtype)::value>(codes, scales, out);
      }))
    return;
#endif
  out.copy_(codes);
  out.mul_(scales.to(at::kFloat));
  sdk::round_tensor_in_place(out, scales.scalar_type());
}

at::Tensor dequantize_float_kn(const at::Tensor& codes, const at::Tensor& scales) {
  at::Tensor out = sdk::weight_buffer(codes.sizes(), at::kFloat);
  dequantize_float_kn_into(codes, scales, out);
  return out;
}

}  // namespace oft::eetq
