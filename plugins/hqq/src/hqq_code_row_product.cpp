#include "hqq_code_row_product.h"

#include <stdexcept>
#include <tuple>
#include <utility>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include "hqq_packing.h"
#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/token_groups.h"

namespace oft::hqq {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
// Output rows per plane (each with its planes' outputs) per parallel task.
constexpr int64_t kRowsPerTask = 16;

struct Operands {
  const uint8_t* packed;  // (packed rows, cols)
  const float* zero;      // one per code row
  const float* scale;
  const float* x;  // (T, in)
  float* y;        // (T, out)
  int64_t tokens, in_features, out_features;
  int64_t cols, packed_rows, code_rows_per_output, outputs_per_plane;
};

// The values of one plane's codes in eight lanes of packed bytes. Codes of up to 4 bits take a code row's table of
// their 2^bits dequantized values (computed by the same steps, so the same bits) and a lane permutation
// (sdk::code_values_in_8_lanes) instead of the steps for every code. 8-bit codes take the steps.
template <c10::ScalarType kDtype, int kBits, int kShift>
struct PlaneValues {
  // 8-bit codes: the zero point and scale; else the code row's table.
  __m256 low, high;

  __attribute__((target("avx2,f16c"))) void set(float zero, float scale) {
    const __m256 z = _mm256_set1_ps(zero), s = _mm256_set1_ps(scale);
    if constexpr (kBits == 8) {
      low = z;
      high = s;
    } else {
      const auto table = CodeRowTable<kDtype, kBits>::of(z, s);
      low = table.low;
      high = table.high;
    }
  }

  // bytes: eight packed bytes, one per 32-bit lane; this plane's code in bits [kShift, kShift + kBits).
  __attribute__((target("avx2,f16c"))) __m256 of(__m256i bytes) const {
    if constexpr (kBits == 8)
      return steps_in_8_lanes<kDtype>(_mm256_cvtepi32_ps(bytes), low, high);
    else
      return sdk::code_values_in_8_lanes<kBits, kShift>(low, high, bytes);
  }
};

// acc[t] += w · xs[t] for each token (a multiply, then an add: no fused multiply-add).
template <int kTokens>
__attribute__((target("avx2"))) inline void accumulate(__m256 (&acc)[kTokens], __m256 w, const __m256 (&xs)[kTokens]) {
#pragma GCC unroll 8
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(w, xs[t]));
}

// Output row m of every plane (outputs m, m + N/planes, ...) for tokens [t0, t0 + kTokens): over the row's packed
// rows in order, eight bytes at a time, each plane's codes dequantized and multiplied with x, lane by lane; then
// the lanes. kPlane: 0 to planes - 1, the first plane in the most significant bits.
template <c10::ScalarType kDtype, int kBits, int kTokens, int... kPlane>
__attribute__((target("avx2,f16c"))) void outputs_in_8_lanes(const Operands& p, int64_t m, int64_t t0,
                                                             std::integer_sequence<int, kPlane...>) {
  constexpr int kPlanes = sizeof...(kPlane);
  std::tuple<PlaneValues<kDtype, kBits, kBits*(kPlanes - 1 - kPlane)>...> values;
  __m256 acc[kPlanes][kTokens];
  for (int plane = 0; plane < kPlanes; ++plane)
    for (int t = 0; t < kTokens; ++t) acc[plane][t] = _mm256_setzero_ps();
  for (int64_t c = 0; c < p.code_rows_per_output; ++c) {
    const int64_t row = m * p.code_rows_per_output + c;  // packed row; plane q's code row q * packed_rows + row
    const uint8_t* bytes = p.packed + row * p.cols;
    const float* x = p.x + t0 * p.in_features + c * p.cols;
    (std::get<kPlane>(values).set(p.zero[kPlane * p.packed_rows + row], p.scale[kPlane * p.packed_rows + row]), ...);
    for (int64_t j = 0; j < p.cols; j += 8) {
      const __m256i wide = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + j)));
      __m256 xs[kTokens];
#pragma GCC unroll 8
      for (int t = 0; t < kTokens; ++t) xs[t] = _mm256_loadu_ps(x + t * p.in_features + j);
      (accumulate<kTokens>(acc[kPlane], std::get<kPlane>(values).of(wide), xs), ...);
    }
  }
  for (int plane = 0; plane < kPlanes; ++plane)
    for (int t = 0; t < kTokens; ++t)
      p.y[(t0 + t) * p.out_features + plane * p.outputs_per_plane + m] = sdk::lane_sum_in_8_lanes(acc[plane][t]);
}

// Tokens per pass over the codes: each pass decodes them again, so as many as the registers hold beside the planes'
// sums and tables (4-bit: 2 x 4 sums, 4 tables, 4 inputs).
template <int kBits>
constexpr int kTokensPerPass = kBits >= 4   ? 4
                               : kBits == 2 ? 2
                                            : 1;

// acc[t] += (the values of the codes at bits [kShift, kShift + 4) of `bytes`' lanes) · xs[t] for each token, by
// fused multiply-adds.
template <int kShift, int kTokens>
__attribute__((target("avx512f"))) inline void accumulate_16_lanes(__m512 (&acc)[kTokens], __m512 table, __m512i bytes,
                                                                   const __m512 (&xs)[kTokens]) {
  const __m512 w = sdk::code_values_in_16_lanes<kShift>(table, bytes);
#pragma GCC unroll 8
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_fmadd_ps(w, xs[t], acc[t]);
}

// Sixteen packed bytes at `bytes` for kTokens tokens whose inputs start at `x`: each plane's codes into its sums.
template <int kBits, int kTokens, int... kPlane>
__attribute__((target("avx512f"))) inline void add_16_bytes(const Operands& p,
                                                            const __m512 (&tables)[sizeof...(kPlane)],
                                                            const uint8_t* bytes, const float* x,
                                                            __m512 (&acc)[sizeof...(kPlane)][kTokens],
                                                            std::integer_sequence<int, kPlane...>) {
  constexpr int kPlanes = sizeof...(kPlane);
  const __m512i wide = sdk::bytes_in_16_lanes(bytes);
  __m512 xs[kTokens];
#pragma GCC unroll 8
  for (int t = 0; t < kTokens; ++t) xs[t] = _mm512_loadu_ps(x + t * p.in_features);
  (accumulate_16_lanes<kBits*(kPlanes - 1 - kPlane), kTokens>(acc[kPlane], tables[kPlane], wide, xs), ...);
}

// outputs_in_8_lanes with sixteen lanes (AVX-512F) and fused multiply-adds, for codes of up to 4 bits in code rows of
// a multiple of 16 values: each plane's code row table is one register (for codes of 1 or 2 bits its 16 entries
// repeat the 2^bits values, so the other planes' bits above the code pick the same value). A code row's bytes go
// sixteen at a time into two alternating sets of sums, so that for one token the additions form twice as many
// chains.
template <c10::ScalarType kDtype, int kBits, int kTokens, int... kPlane>
__attribute__((target("avx512f"))) void outputs_in_16_lanes(const Operands& p, int64_t m, int64_t t0,
                                                            std::integer_sequence<int, kPlane...> planes) {
  static_assert(kBits <= 4);
  constexpr int kPlanes = sizeof...(kPlane);
  __m512 acc[2][kPlanes][kTokens];
  for (int set = 0; set < 2; ++set)
    for (int plane = 0; plane < kPlanes; ++plane)
      for (int t = 0; t < kTokens; ++t) acc[set][plane][t] = _mm512_setzero_ps();
  for (int64_t c = 0; c < p.code_rows_per_output; ++c) {
    const int64_t row = m * p.code_rows_per_output + c;  // packed row; plane q's code row q * packed_rows + row
    const uint8_t* bytes = p.packed + row * p.cols;
    const float* x = p.x + t0 * p.in_features + c * p.cols;
    __m512 tables[kPlanes];
    for (int plane = 0; plane < kPlanes; ++plane)
      tables[plane] = code_row_table_16_lanes<kDtype, kBits>(p.zero[plane * p.packed_rows + row],
                                                             p.scale[plane * p.packed_rows + row]);
    int64_t j = 0;
    for (; j + 32 <= p.cols; j += 32) {
      add_16_bytes<kBits, kTokens>(p, tables, bytes + j, x + j, acc[0], planes);
      add_16_bytes<kBits, kTokens>(p, tables, bytes + j + 16, x + j + 16, acc[1], planes);
    }
    if (j < p.cols) add_16_bytes<kBits, kTokens>(p, tables, bytes + j, x + j, acc[0], planes);
  }
  for (int plane = 0; plane < kPlanes; ++plane)
    for (int t = 0; t < kTokens; ++t)
      p.y[(t0 + t) * p.out_features + plane * p.outputs_per_plane + m] =
          sdk::lane_sum_in_16_lanes(_mm512_add_ps(acc[0][plane][t], acc[1][plane][t]));
}

template <c10::ScalarType kDtype, int kBits, bool kSixteenLanes, int kTokens, typename Planes>
void outputs(const Operands& p, int64_t m, int64_t t0, Planes planes) {
  if constexpr (kSixteenLanes)
    outputs_in_16_lanes<kDtype, kBits, kTokens>(p, m, t0, planes);
  else
    outputs_in_8_lanes<kDtype, kBits, kTokens>(p, m, t0, planes);
}

template <c10::ScalarType kDtype, int kBits, bool kSixteenLanes>
void run_rows(const Operands& p) {
  constexpr auto kPlanes = std::make_integer_sequence<int, 8 / kBits>{};
  constexpr int kTokens = kTokensPerPass<kBits>;
  // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
  at::parallel_for(0, p.outputs_per_plane, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m)
      sdk::for_each_token_group<kTokens>(p.tokens, [&](auto tokens, int64_t t) {
        outputs<kDtype, kBits, kSixteenLanes, decltype(tokens)::value>(p, m, t, kPlanes);
      });
  });
}

template <c10::ScalarType kDtype, int kBits>
void run(const Operands& p, bool sixteen_lanes) {
  if constexpr (kBits <= 4) {
    if (sixteen_lanes) return run_rows<kDtype, kBits, true>(p);
  }
  run_rows<kDtype, kBits, false>(p);
}
#endif

bool byte_packing(const std::string& packing) {
  return packing == "8bit_u8" || packing == "4bit_u8" || packing == "2bit_u8" || packing == "1bit_u8";
}

}  // namespace

bool code_row_product_takes_16_lanes(const CodeRowWeights& w, sdk::ProductLanes lanes) {
  return sdk::takes_16_lanes(lanes) && w.packing != "8bit_u8" && w.packed.dim() == 2 && w.packed.size(1) % 16 == 0;
}

int64_t code_row_product_max_tokens(const CodeRowWeights& w, sdk::ProductLanes lanes) {
  if (!code_row_product_takes_16_lanes(w, lanes)) return kCodeRowProductMaxTokens;
  if (w.packing == "4bit_u8") return kCodeRowProductMaxTokens16Lanes4Bit;
  return w.packing == "2bit_u8" ? kCodeRowProductMaxTokens16Lanes2Bit : kCodeRowProductMaxTokens16Lanes1Bit;
}

bool code_row_product_applies(int64_t tokens, const CodeRowWeights& w, sdk::ProductLanes lanes) {
  if (tokens < 1 || tokens > code_row_product_max_tokens(w, lanes) || !byte_packing(w.packing) ||
      w.dtypes.difference != w.dtypes.product || !sdk::runs_in_8_lanes(w.dtypes.product))
    return false;
  const int64_t cols = w.packed.size(1);
  const int64_t code_rows = w.out_features * (w.in_features / cols);
  return w.packed.dim() == 2 && cols % 8 == 0 && w.in_features % cols == 0 && w.out_features % planes(w.packing) == 0 &&
         w.packed.size(0) * planes(w.packing) == code_rows && w.zero.numel() == code_rows &&
         w.scale.numel() == code_rows;
}

at::Tensor code_row_product(const at::Tensor& x, const CodeRowWeights& w, sdk::ProductLanes lanes) {
  const int64_t tokens = x.dim() == 2 ? x.size(0) : 0;
  if (!code_row_product_applies(tokens, w, lanes) || x.size(1) != w.in_features || x.scalar_type() != at::kFloat ||
      !x.is_contiguous() || w.packed.scalar_type() != at::kByte || !w.packed.is_contiguous())
    throw std::invalid_argument("hqq: the code row product does not apply to " + std::to_string(tokens) +
                                " tokens of a " + w.packing + " layer with " + c10::toString(w.dtypes.product) +
                                " steps on this CPU");
  at::Tensor y = at::empty({tokens, w.out_features}, x.options());
#ifdef OFT_SDK_X86_ROUNDING
  const int64_t n_planes = planes(w.packing);
  // One float per code row (an eighth of a byte per weight at group 64): read by every token pass.
  const at::Tensor zero = w.zero.reshape({-1}).to(at::kFloat).contiguous();
  const at::Tensor scale = w.scale.reshape({-1}).to(at::kFloat).contiguous();
  const Operands p{.packed = w.packed.const_data_ptr<uint8_t>(),
                   .zero = zero.const_data_ptr<float>(),
                   .scale = scale.const_data_ptr<float>(),
                   .x = x.const_data_ptr<float>(),
                   .y = y.data_ptr<float>(),
                   .tokens = tokens,
                   .in_features = w.in_features,
                   .out_features = w.out_features,
                   .cols = w.packed.size(1),
                   .packed_rows = w.packed.size(0),
                   .code_rows_per_output = w.in_features / w.packed.size(1),
                   .outputs_per_plane = w.out_features / n_planes};
  const bool sixteen = code_row_product_takes_16_lanes(w, lanes);
  sdk::run_in_8_lanes(w.dtypes.product, sdk::RoundingPath::kFastest, [&](auto dtype) {
    constexpr c10::ScalarType kDtype = decltype(dtype)::value;
    switch (n_planes) {
      case 1: run<kDtype, 8>(p, sixteen); break;
      case 2: run<kDtype, 4>(p, sixteen); break;
      case 4: run<kDtype, 2>(p, sixteen); break;
      default: run<kDtype, 1>(p, sixteen);
    }
  });
#endif
  return y;
}

}  // namespace oft::hqq
