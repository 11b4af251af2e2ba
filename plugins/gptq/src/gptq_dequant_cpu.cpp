#include "gptq_dequant_cpu.h"

#include <cstdint>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "gptq_dequant_math.h"

namespace oft::gptq {
namespace {

void run(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales, const at::Tensor& g_idx,
         int bits, at::Tensor& out) {
  const int64_t in = out.size(0), n_out = out.size(1);
  const uint32_t* words = reinterpret_cast<const uint32_t*>(qweight.data_ptr<int32_t>());
  const float* z = zeros.data_ptr<float>();
  const float* s = scales.data_ptr<float>();
  const int32_t* g = g_idx.data_ptr<int32_t>();
  float* w = out.data_ptr<float>();
  const uint32_t mask = math::code_mask(bits);
  at::parallel_for(0, in, 16, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const math::FieldPosition at_k = math::field_position(k, bits);
      const uint32_t shift = at_k.shift;
      const uint32_t* lo = words + at_k.row * n_out;
      const float* zg = z + int64_t{g[k]} * n_out;
      const float* sg = s + int64_t{g[k]} * n_out;
      float* wk = w + k * n_out;
      if (!math::straddles(shift, bits)) {
        for (int64_t n = 0; n < n_out; ++n)
          wk[n] = math::dequantize_value(math::code_in_word(lo[n], shift, mask), zg[n], sg[n]);
      } else {  // 3 bits: the field continues in the next word
        const uint32_t* hi = lo + n_out;
        for (int64_t n = 0; n < n_out; ++n)
          wk[n] = math::dequantize_value(math::code_across_words(lo[n], hi[n], shift, mask), zg[n], sg[n]);
      }
    }
  });
}

}  // namespace

void check_group_indices(const at::Tensor& g_idx, int64_t groups) {
  if (g_idx.numel() == 0) return;
  const auto [low, high] = at::aminmax(g_idx);
  const at::Tensor range = at::stack({low, high}).cpu();  // one read-back for both
  if (range[0].item<int64_t>() < 0 || range[1].item<int64_t>() >= groups)
    throw std::invalid_argument("gptq: tensor \"g_idx\" has group indices outside [0, " + std::to_string(groups) + ")");
}

at::Tensor dequantize_cpu(const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                          const at::Tensor& g_idx, int bits, c10::ScalarType round_to) {
  at::Tensor q = qweight.contiguous(), z = zeros.contiguous(), s = scales.contiguous(), gi = g_idx.contiguous();
  // g_idx indexes rows of zeros/scales below: a value changed in place since loading must not read outside.
  check_group_indices(gi, z.size(0));
  at::Tensor out = at::empty({gi.size(0), q.size(1)}, q.options().dtype(at::kFloat));
  run(q, z, s, gi, bits, out);
  // (code - zero) * scale is exact in fp32 for fp16/bf16 scales; one rounding to their dtype (a
  // vectorized cast, much faster than rounding element by element above) gives the library's value.
  if (round_to == at::kHalf || round_to == at::kBFloat16) out = out.to(round_to).to(at::kFloat);
  return out;
}

}  // namespace oft::gptq
