#include "awq_dequant_cpu.h"

#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

namespace oft::awq {
namespace {

constexpr int64_t kRowsPerTask = 16;
constexpr int kReverseOrder[8] = {0, 4, 1, 5, 2, 6, 3, 7};  // column j of a 4-bit gemm word is nibble REV[j]

// (code - zero) * scale is exact in fp32 for fp16/bf16 scales; one rounding to their dtype gives the
// library's value. Done row by row while the row is in cache, with ATen's vectorized casts.
void round_row(float* row, int64_t count, c10::ScalarType round_to) {
  if (round_to != at::kHalf && round_to != at::kBFloat16) return;
  at::Tensor block = at::from_blob(row, {count}, at::TensorOptions().dtype(at::kFloat));
  block.copy_(block.to(round_to));
}

}  // namespace

at::Tensor dequantize_gemm_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales, int bits,
                               int64_t group_size, c10::ScalarType round_to) {
  const at::Tensor q = qweight.contiguous(), z = zeros.contiguous(), s = scales.contiguous();
  const int64_t in = q.size(0), words = q.size(1), n_out = s.size(1);
  // 2, 3 and 8 bits: where each output column's field sits in the row's bit stream.
  std::vector<int64_t> word(n_out);
  std::vector<uint32_t> shift(n_out);
  for (int64_t n = 0; n < n_out; ++n) {
    const int64_t bit = int64_t{bits} * n;
    word[n] = bit / 32;
    shift[n] = static_cast<uint32_t>(bit % 32);
  }
  const uint32_t mask = (uint32_t{1} << bits) - 1;
  const bool straddles = 32 % bits != 0;
  const uint32_t* packed = reinterpret_cast<const uint32_t*>(q.data_ptr<int32_t>());
  const float* zp = z.data_ptr<float>();
  const float* sp = s.data_ptr<float>();
  at::Tensor out = at::empty({in, n_out}, s.options());
  float* w = out.data_ptr<float>();
  at::parallel_for(0, in, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const uint32_t* row = packed + k * words;
      const float* zg = zp + (k / group_size) * n_out;
      const float* sg = sp + (k / group_size) * n_out;
      float* wk = w + k * n_out;
      if (bits == 4) {  // the common case, unrolled: word c holds columns 8c..8c+7 at fixed nibbles
        for (int64_t c = 0; c < words; ++c) {
          const uint32_t v = row[c];
          for (int j = 0; j < 8; ++j) {
            const int64_t n = 8 * c + j;
            wk[n] = (static_cast<float>((v >> (4 * kReverseOrder[j])) & 15u) - zg[n]) * sg[n];
          }
        }
      } else {
        for (int64_t n = 0; n < n_out; ++n) {
          uint32_t code = row[word[n]] >> shift[n];
          if (straddles && shift[n] + bits > 32) code |= row[word[n] + 1] << (32 - shift[n]);  // 3 bits
          wk[n] = (static_cast<float>(code & mask) - zg[n]) * sg[n];
        }
      }
      round_row(wk, n_out, round_to);
    }
  });
  return out;
}

at::Tensor dequantize_gemv_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                               int64_t group_size, c10::ScalarType round_to) {
  const at::Tensor q = qweight.contiguous(), z = zeros.contiguous(), s = scales.contiguous();
  const int64_t n_out = q.size(0), words = q.size(1), in = 8 * words, groups = z.size(1);
  const uint32_t* packed = reinterpret_cast<const uint32_t*>(q.data_ptr<int32_t>());
  const float* zp = z.data_ptr<float>();
  const float* sp = s.data_ptr<float>();
  at::Tensor out = at::empty({n_out, in}, s.options());
  float* w = out.data_ptr<float>();
  at::parallel_for(0, n_out, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const uint32_t* row = packed + n * words;
      float* wn = w + n * in;
      for (int64_t k = 0; k < in; ++k) {
        const int64_t g = n * groups + k / group_size;
        const uint32_t code = (row[k / 8] >> (4 * (k % 8))) & 15u;
        wn[k] = (static_cast<float>(code) - zp[g]) * sp[g];
      }
      round_row(wn, in, round_to);
    }
  });
  return out;
}

}  // namespace oft::awq
