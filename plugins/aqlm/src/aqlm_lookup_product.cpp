#include "aqlm_lookup_product.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/zeros.h>

namespace oft::aqlm {
namespace {

// The part of the table one pass over the outputs reads (whole input groups): small enough to stay in a
// core's L2 cache while every output's codes for those groups are summed.
constexpr int64_t kTableBlockBytes = 128 * 1024;
// Outputs per parallel task.
constexpr int64_t kOutputsPerTask = 64;

// Entries are padded to a multiple of this many floats (past one float) so their sums run in fixed-width SIMD
// chunks that GCC vectorizes at -O2.
constexpr int64_t kEntryChunk = 4;

struct TableView {
  const float* data;
  int64_t entry;  // floats per entry: og outputs x T tokens, padded (kEntryChunk) unless 1
  int64_t book;   // floats per codebook: 2^B entries
  int64_t group;  // floats per input group: C codebooks
  int64_t codebooks;
  uint32_t code_mask;  // stored codes are signed: the low B bits are the code
};

// The codes of one output group: C per input group, in input-group order.
struct OutputCodes {
  const uint8_t* codes;
  float entry(const TableView& t, const float* group_table, int64_t g, int64_t c) const {
    return group_table[c * t.book + (codes[g * t.codebooks + c] & t.code_mask)];
  }
};

// Entries of one float (one token, og 1, the decoding case): each output's sum over input groups [first, last)
// and codebooks, in that order, added to acc[o]. Four outputs at a time, so four independent sums are in flight.
void add_single_entries(const TableView& t, const uint8_t* codes, int64_t codes_per_output, int64_t first, int64_t last,
                        int64_t begin, int64_t end, float* acc) {
  int64_t o = begin;
  for (; o + 4 <= end; o += 4) {
    const OutputCodes c0{codes + o * codes_per_output}, c1{c0.codes + codes_per_output},
        c2{c1.codes + codes_per_output}, c3{c2.codes + codes_per_output};
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    for (int64_t g = first; g < last; ++g) {
      const float* table = t.data + g * t.group;
      for (int64_t c = 0; c < t.codebooks; ++c) {
        s0 += c0.entry(t, table, g, c);
        s1 += c1.entry(t, table, g, c);
        s2 += c2.entry(t, table, g, c);
        s3 += c3.entry(t, table, g, c);
      }
    }
    acc[o] += s0;
    acc[o + 1] += s1;
    acc[o + 2] += s2;
    acc[o + 3] += s3;
  }
  for (; o < end; ++o) {
    const OutputCodes codes_o{codes + o * codes_per_output};
    float sum = 0.f;
    for (int64_t g = first; g < last; ++g)
      for (int64_t c = 0; c < t.codebooks; ++c) sum += codes_o.entry(t, t.data + g * t.group, g, c);
    acc[o] += sum;
  }
}

// Entries of several floats (tokens, or outputs of a group): the same sums into acc (t.entry floats), kEntryChunk
// floats at a time. Width W > 0 fixes the entry size at compile time, so the sums stay in registers; W = 0 sums
// into `scratch` (t.entry floats).
template <int64_t W>
void add_entries(const TableView& t, const uint8_t* codes, int64_t first, int64_t last, float* scratch, float* acc) {
  const int64_t width = W > 0 ? W : t.entry;
  float fixed[W > 0 ? W : 1];
  float* __restrict sum = W > 0 ? fixed : scratch;
  std::fill(sum, sum + width, 0.f);
  for (int64_t g = first; g < last; ++g) {
    const float* table = t.data + g * t.group;
    const uint8_t* code = codes + g * t.codebooks;
    for (int64_t c = 0; c < t.codebooks; ++c) {
      const float* __restrict entry = table + c * t.book + (code[c] & t.code_mask) * width;
      for (int64_t j0 = 0; j0 < width; j0 += kEntryChunk)
        for (int64_t j = 0; j < kEntryChunk; ++j) sum[j0 + j] += entry[j0 + j];
    }
  }
  for (int64_t j = 0; j < width; ++j) acc[j] += sum[j];
}

// add_entries for outputs [begin, end), with the entry width fixed where it is a common one.
void add_entries(const TableView& t, const uint8_t* codes, int64_t codes_per_output, int64_t first, int64_t last,
                 int64_t begin, int64_t end, float* acc) {
  std::vector<float> scratch(static_cast<size_t>(t.entry));
  for (int64_t o = begin; o < end; ++o) {
    const uint8_t* output_codes = codes + o * codes_per_output;
    float* output_acc = acc + o * t.entry;
    switch (t.entry) {
      case 4: add_entries<4>(t, output_codes, first, last, nullptr, output_acc); break;
      case 8: add_entries<8>(t, output_codes, first, last, nullptr, output_acc); break;
      case 16: add_entries<16>(t, output_codes, first, last, nullptr, output_acc); break;
      default: add_entries<0>(t, output_codes, first, last, scratch.data(), output_acc);
    }
  }
}

}  // namespace

bool lookup_product_applies(int64_t tokens, int64_t nbits_per_codebook) {
  return nbits_per_codebook <= 8 && tokens >= 1 && tokens <= kLookupMaxTokens;
}

at::Tensor lookup_product(const at::Tensor& x, const at::Tensor& stored_codes, int64_t nbits_per_codebook,
                          const at::Tensor& float_codebooks, const at::Tensor& float_scales) {
  if (nbits_per_codebook > 8 || stored_codes.scalar_type() != at::kChar)
    throw std::invalid_argument("aqlm: the lookup product takes int8 codes of at most 8 bits, got " +
                                std::to_string(nbits_per_codebook) + " bits");
  const int64_t tokens = x.size(0);
  const int64_t codebooks = float_codebooks.size(0), entries = float_codebooks.size(1);
  const int64_t out_group = float_codebooks.size(2), in_group = float_codebooks.size(3);
  const int64_t out_groups = stored_codes.size(0), in_groups = stored_codes.size(1);
  const int64_t entry = out_group * tokens;
  const int64_t padded = entry == 1 ? 1 : (entry + kEntryChunk - 1) / kEntryChunk * kEntryChunk;
  // table[g][c][q][j·T + t] = Σ_i x[t, g·ig + i] · codebooks[c, q, j, i], each entry padded with zeros
  const at::Tensor products = at::mm(x.reshape({tokens * in_groups, in_group}),
                                     float_codebooks.reshape({codebooks * entries * out_group, in_group}).t())
                                  .view({tokens, in_groups, codebooks * entries, out_group})
                                  .permute({1, 2, 3, 0});
  at::Tensor table = at::empty({in_groups, codebooks * entries, padded}, x.options());
  if (padded != entry) table.narrow(2, entry, padded - entry).zero_();
  table.narrow(2, 0, entry).view({in_groups, codebooks * entries, out_group, tokens}).copy_(products);
  const TableView view{.data = table.const_data_ptr<float>(),
                       .entry = padded,
                       .book = entries * padded,
                       .group = codebooks * entries * padded,
                       .codebooks = codebooks,
                       .code_mask = static_cast<uint32_t>(entries - 1)};
  const at::Tensor codes = stored_codes.contiguous();
  const auto* code_data = reinterpret_cast<const uint8_t*>(codes.const_data_ptr<int8_t>());
  const int64_t codes_per_output = in_groups * codebooks;
  // sums[o][j·T + t]: output o·og + j, token t
  at::Tensor sums = at::zeros({out_groups, padded}, x.options());
  float* sum_data = sums.data_ptr<float>();
  const int64_t block = std::max<int64_t>(1, kTableBlockBytes / (view.group * int64_t{sizeof(float)}));
  // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
  at::parallel_for(0, out_groups, kOutputsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t first = 0; first < in_groups; first += block) {
      const int64_t last = std::min(in_groups, first + block);
      if (padded == 1)
        add_single_entries(view, code_data, codes_per_output, first, last, begin, end, sum_data);
      else
        add_entries(view, code_data, codes_per_output, first, last, begin, end, sum_data);
    }
  });
  return sums.narrow(1, 0, entry).mul(float_scales.reshape({out_groups, 1})).view({out_groups * out_group, tokens}).t();
}

}  // namespace oft::aqlm
