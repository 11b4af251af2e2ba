#include "aqlm_codeword_product.h"

#include <stdexcept>
#include <string>
#include <type_traits>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include "oft/sdk/code_lookup_8_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"
#include "oft/sdk/simd4.h"

namespace oft::aqlm {
namespace {

using sdk::simd4::Floats;

// Output rows per parallel task.
constexpr int64_t kRowsPerTask = 64;

// Code: uint8_t for aqlm's int8 codes, uint16_t for its int16 ones, read as stored (a copy widening 2x8's 4 MiB of
// codes at 4096x4096 would write 8 MiB on every call).
template <typename Code>
struct Operands {
  const float* x;         // (T, K)
  const Code* codes;      // [N/og, K/ig, C], read mod 2^B
  const void* codebooks;  // [C, Q, og, ig]: float for the portable code, else the dtype of the eight-lane loop
  const float* scales;    // [N/og]
  float* y;               // (T, N)
  int64_t tokens, in_features, out_features;
  int64_t in_groups, codebook_count, out_group, in_group;
  int64_t entry_size, book_size;  // og·ig and 2^B·og·ig values
  uint16_t code_mask;
};

// Where output row n reads: its output group's codes, and its row within their codebook entries.
template <typename Code>
struct RowSource {
  const Code* codes;
  int64_t row_offset;

  static RowSource of(const Operands<Code>& p, int64_t n) {
    return {p.codes + n / p.out_group * p.in_groups * p.codebook_count, n % p.out_group * p.in_group};
  }
  // The offset in codebooks of the row's codeword from codebook c for input group g. kCodebooks > 0: that many
  // codebooks and output groups of one row (1x16's and 2x8's layouts), known at compile time, so the offset
  // arithmetic is the least and the loops' registers the most (measured: 1x16 took twice as long without).
  template <int kCodebooks, int64_t kInGroup>
  int64_t codeword(const Operands<Code>& p, int64_t g, int64_t c) const {
    if constexpr (kCodebooks > 0)
      return c * p.book_size + int64_t{codes[g * kCodebooks + c] & p.code_mask} * kInGroup;
    else
      return c * p.book_size + (codes[g * p.codebook_count + c] & p.code_mask) * p.entry_size + row_offset;
  }
};

template <typename Code>
void write(const Operands<Code>& p, int64_t t, int64_t n, float sum) {
  p.y[t * p.out_features + n] = sum * p.scales[n / p.out_group];
}

// The number of codebooks the loops run over (kCodebooks: RowSource::codeword).
template <int kCodebooks, typename Code>
int64_t codebooks_of(const Operands<Code>& p) {
  return kCodebooks > 0 ? kCodebooks : p.codebook_count;
}

// Rows [n, n + kRows) for tokens [t0, t0 + kTokens), input groups of kChunks · 4 inputs: each row's and token's
// products summed lane by lane over input groups and codebooks, in that order, then the lanes: chunks first, then
// (l0 + l1) + (l2 + l3). Several rows at once: their codeword reads are independent, and x is read once for all.
template <int kChunks, int kCodebooks, int kRows, int kTokens, typename Code>
void rows_in_4_lanes(const Operands<Code>& p, int64_t n, int64_t t0) {
  const auto* books = static_cast<const float*>(p.codebooks);
  const float* x = p.x + t0 * p.in_features;
  RowSource<Code> rows[kRows];
  for (int r = 0; r < kRows; ++r) rows[r] = RowSource<Code>::of(p, n + r);
  Floats acc[kRows][kTokens][kChunks] = {};
  for (int64_t g = 0; g < p.in_groups; ++g)
    for (int64_t c = 0; c < codebooks_of<kCodebooks>(p); ++c)
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r) {
        const float* w = books + rows[r].template codeword<kCodebooks, 4 * kChunks>(p, g, c);
#pragma GCC unroll 16
        for (int k = 0; k < kChunks; ++k) {
          const Floats word = sdk::simd4::load(w + 4 * k);
#pragma GCC unroll 16
          for (int t = 0; t < kTokens; ++t)
            acc[r][t][k] += word * sdk::simd4::load(x + t * p.in_features + g * p.in_group + 4 * k);
        }
      }
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) {
      Floats sum = acc[r][t][0];
      for (int k = 1; k < kChunks; ++k) sum += acc[r][t][k];
      write(p, t0 + t, n + r, (sum[0] + sum[1]) + (sum[2] + sum[3]));
    }
}

template <int kChunks, int kCodebooks, typename Code>
struct RowsIn4Lanes {
  const Operands<Code>& p;
  template <int kRows, int kTokens>
  void run(int64_t n, int64_t t0) const {
    rows_in_4_lanes<kChunks, kCodebooks, kRows, kTokens>(p, n, t0);
  }
};

// Input groups of any other size, one lane, a row and a token at a time.
template <typename Code>
struct RowsInOneLane {
  const Operands<Code>& p;
  template <int kRows, int kTokens>
  void run(int64_t n, int64_t t0) const {
    const auto* books = static_cast<const float*>(p.codebooks);
    for (int64_t row = n; row < n + kRows; ++row)
      for (int64_t t = t0; t < t0 + kTokens; ++t) {
        const RowSource<Code> source = RowSource<Code>::of(p, row);
        const float* x = p.x + t * p.in_features;
        float sum = 0.f;
        for (int64_t g = 0; g < p.in_groups; ++g)
          for (int64_t c = 0; c < p.codebook_count; ++c) {
            const float* w = books + source.template codeword<0, 0>(p, g, c);
            for (int64_t i = 0; i < p.in_group; ++i) sum += w[i] * x[g * p.in_group + i];
          }
        write(p, t, row, sum);
      }
  }
};

#ifdef OFT_SDK_X86_ROUNDING
// Eight codeword values stored as kDtype, widened to floats exactly: fp16 codebooks are read as they are stored
// (a 2^16 x 8 codebook is then 1 MiB, where its fp32 copy would be 2 MiB, more than a core's L2 cache).
template <c10::ScalarType kDtype>
__attribute__((target("avx2,f16c"))) inline __m256 codeword_in_8_lanes(const void* books, int64_t at) {
  return sdk::load_in_8_lanes(static_cast<const c10::impl::ScalarTypeToCPPTypeT<kDtype>*>(books) + at);
}

// rows_in_4_lanes<2, ...> (input groups of 8) with the eight lanes in one register, codebooks stored as kDtype:
// the same operations lane by lane (a multiply, then an add: no fused multiply-add), so the same bits.
template <c10::ScalarType kDtype, int kCodebooks, int kRows, int kTokens, typename Code>
__attribute__((target("avx2,f16c"))) void rows_in_8_lanes(const Operands<Code>& p, int64_t n, int64_t t0) {
  const float* x = p.x + t0 * p.in_features;
  RowSource<Code> rows[kRows];
  for (int r = 0; r < kRows; ++r) rows[r] = RowSource<Code>::of(p, n + r);
  __m256 acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < p.in_groups; ++g) {
    __m256 xs[kTokens];
#pragma GCC unroll 16
    for (int t = 0; t < kTokens; ++t) xs[t] = _mm256_loadu_ps(x + t * p.in_features + g * 8);
    for (int64_t c = 0; c < codebooks_of<kCodebooks>(p); ++c)
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r) {
        const __m256 w = codeword_in_8_lanes<kDtype>(p.codebooks, rows[r].template codeword<kCodebooks, 8>(p, g, c));
#pragma GCC unroll 16
        for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm256_add_ps(acc[r][t], _mm256_mul_ps(w, xs[t]));
      }
  }
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) write(p, t0 + t, n + r, sdk::lane_sum_in_8_lanes(acc[r][t]));
}

template <c10::ScalarType kDtype, int kCodebooks, typename Code>
struct RowsIn8Lanes {
  const Operands<Code>& p;
  template <int kRows, int kTokens>
  void run(int64_t n, int64_t t0) const {
    rows_in_8_lanes<kDtype, kCodebooks, kRows, kTokens>(p, n, t0);
  }
};
#endif

// Rows [begin, end), every token: blocks of kRowBlock rows (one row at a time for the last few), each for two
// tokens at a time, then the last one (the block's codewords are in L1 cache after its first pass).
constexpr int kRowBlock = 4;

template <typename Code, typename Rows>
void for_each_row_block(const Operands<Code>& p, int64_t begin, int64_t end, const Rows& rows) {
  const auto every_token = [&]<int kRows>(int64_t n) {
    int64_t t = 0;
    for (; t + 2 <= p.tokens; t += 2) rows.template run<kRows, 2>(n, t);
    if (t < p.tokens) rows.template run<kRows, 1>(n, t);
  };
  int64_t n = begin;
  for (; n + kRowBlock <= end; n += kRowBlock) every_token.template operator()<kRowBlock>(n);
  for (; n < end; ++n) every_token.template operator()<1>(n);
}

// Runs the kernel for p's layout, codebooks' dtype and CPU. The codebooks' data pointer is filled in here.
template <typename Code>
void run_codeword_product(Operands<Code>& p, const at::Tensor& codebooks, sdk::RoundingPath path) {
  // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
  const auto run = [&](const auto& rows) {
    at::parallel_for(0, p.out_features, kRowsPerTask,
                     [&](int64_t begin, int64_t end) { for_each_row_block(p, begin, end, rows); });
  };
  // make(std::integral_constant<int, kCodebooks>) names the kernel (kCodebooks: RowSource::codeword).
  const auto run_for_layout = [&](const auto& make) {
    if (p.out_group == 1 && p.codebook_count == 1)
      run(make(std::integral_constant<int, 1>{}));
    else if (p.out_group == 1 && p.codebook_count == 2)
      run(make(std::integral_constant<int, 2>{}));
    else
      run(make(std::integral_constant<int, 0>{}));
  };
#ifdef OFT_SDK_X86_ROUNDING
  if (p.in_group == 8) {
    const at::Tensor books = codebooks.contiguous();
    p.codebooks = books.const_data_ptr();
    if (sdk::run_in_8_lanes(books.scalar_type(), path, [&](auto dtype) {
          run_for_layout(
              [&](auto layout) { return RowsIn8Lanes<decltype(dtype)::value, decltype(layout)::value, Code>{p}; });
        }))
      return;
  }
#endif
  const at::Tensor float_books = codebooks.to(at::kFloat).contiguous();
  p.codebooks = float_books.const_data_ptr<float>();
  switch (p.in_group) {
    case 4: run_for_layout([&](auto layout) { return RowsIn4Lanes<1, decltype(layout)::value, Code>{p}; }); break;
    case 8: run_for_layout([&](auto layout) { return RowsIn4Lanes<2, decltype(layout)::value, Code>{p}; }); break;
    case 16: run_for_layout([&](auto layout) { return RowsIn4Lanes<4, decltype(layout)::value, Code>{p}; }); break;
    default: run(RowsInOneLane<Code>{p});
  }
}

}  // namespace

int64_t codeword_max_tokens(int64_t num_codebooks) {
  return num_codebooks == 1 ? kCodewordMaxTokensOneCodebook : kCodewordMaxTokensSeveralCodebooks;
}

bool codeword_product_applies(int64_t tokens, int64_t num_codebooks) {
  return tokens >= 1 && tokens <= codeword_max_tokens(num_codebooks);
}

at::Tensor codeword_product(const at::Tensor& x, const at::Tensor& stored_codes, int64_t nbits_per_codebook,
                            const at::Tensor& codebooks, const at::Tensor& float_scales, sdk::RoundingPath path) {
  if (!x.device().is_cpu() || !stored_codes.device().is_cpu() || !codebooks.device().is_cpu() ||
      !float_scales.device().is_cpu())
    throw std::invalid_argument("aqlm: the codeword product takes CPU tensors");
  const auto dtype_of_codes = stored_codes.scalar_type();
  const int64_t max_bits = dtype_of_codes == at::kChar ? 8 : 16;
  if (nbits_per_codebook < 1 || nbits_per_codebook > max_bits ||
      (dtype_of_codes != at::kChar && dtype_of_codes != at::kShort))
    throw std::invalid_argument(
        "aqlm: the codeword product takes int8 codes of 1 to 8 bits or int16 codes of 1 to 16 bits, got " +
        std::string(c10::toString(dtype_of_codes)) + " codes of " + std::to_string(nbits_per_codebook) + " bits");
  if (x.dim() != 2 || x.scalar_type() != at::kFloat || !x.is_contiguous() ||
      x.size(1) != stored_codes.size(1) * codebooks.size(3))
    throw std::invalid_argument("aqlm: the codeword product takes a contiguous float input of (tokens, " +
                                std::to_string(stored_codes.size(1) * codebooks.size(3)) + ")");
  const at::Tensor codes = stored_codes.contiguous();
  const at::Tensor scales = float_scales.contiguous();
  const int64_t tokens = x.size(0), out_features = codes.size(0) * codebooks.size(2);
  at::Tensor y = at::empty({tokens, out_features}, x.options());
  // The codes' bits as unsigned integers of their width: the mask drops what lies above the codebook's bits.
  const auto with_codes = [&]<typename Code>(const Code* stored) {
    Operands<Code> p{.x = x.const_data_ptr<float>(),
                     .codes = stored,
                     .codebooks = nullptr,
                     .scales = scales.const_data_ptr<float>(),
                     .y = y.data_ptr<float>(),
                     .tokens = tokens,
                     .in_features = x.size(1),
                     .out_features = out_features,
                     .in_groups = codes.size(1),
                     .codebook_count = codebooks.size(0),
                     .out_group = codebooks.size(2),
                     .in_group = codebooks.size(3),
                     .entry_size = codebooks.size(2) * codebooks.size(3),
                     .book_size = codebooks.size(1) * codebooks.size(2) * codebooks.size(3),
                     .code_mask = static_cast<uint16_t>((uint32_t{1} << nbits_per_codebook) - 1)};
    run_codeword_product(p, codebooks, path);
  };
  if (dtype_of_codes == at::kChar)
    with_codes(reinterpret_cast<const uint8_t*>(codes.const_data_ptr<int8_t>()));
  else
    with_codes(reinterpret_cast<const uint16_t*>(codes.const_data_ptr<int16_t>()));
  return y;
}

}  // namespace oft::aqlm
