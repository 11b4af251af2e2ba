#include "hqq_linear.h"

#include <stdexcept>
#include <utility>

#include <ATen/ATen.h>

#include "hqq_code_row_product.h"
#include "hqq_cuda_ops.h"
#include "hqq_dequant_cpu.h"
#include "hqq_dequant_operators.h"
#include "hqq_packing.h"
#include "hqq_quantizer.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/tiled_dequantized_linear.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::hqq {

HqqLinear::HqqLinear(HqqState state) : meta_(std::move(state.meta)) {
  W_q_ = register_buffer("W_q", state.W_q);
  scale_ = register_buffer("scale", state.scale);
  zero_ = register_buffer("zero", state.zero);
  if (state.bias.defined()) bias_ = register_buffer("bias", state.bias);
}

HqqState HqqLinear::state() const { return {meta_, W_q_, scale_, zero_, bias_}; }

at::Tensor HqqLinear::packed() const {
  return meta_.settings.view_as_float ? W_q_.view(packed_dtype(meta_.packing)) : W_q_;
}

at::Tensor HqqLinear::codes() const {
  // 3-bit packing pads the rows to a multiple of 10; hqq keeps the first `rows`.
  return unpack(packed(), meta_.packing, meta_.compute_dtype).slice(0, 0, meta_.rows);
}

void HqqLinear::dequantize_rows_into(const at::Tensor& packed, int64_t begin, int64_t end, const at::Tensor& zero,
                                     const at::Tensor& scale, const at::Tensor& out) const {
  const StepDtypes dtypes = step_dtypes(meta_.compute_dtype, zero, scale);
  const auto per_row = [&](const at::Tensor& t) { return t.dim() == 2 && t.size(0) == end - begin && t.size(1) == 1; };
  if (per_row(zero) && per_row(scale) && code_rows_supported(dtypes) && packed.is_contiguous() && out.is_contiguous()) {
    dequantize_code_rows(packed, meta_.packing, begin, end, zero, scale, dtypes, out);
    return;
  }
  // Otherwise (groups along the output, axis 0): the same steps in tensor arithmetic. LibTorch's CPU ops in fp16/bf16
  // compute in float and round the result, so float kernels followed by rounding give hqq's values.
  const auto round_to = [&](c10::ScalarType dtype) {
    if (dtype != at::kFloat) out.copy_(out.to(dtype));
  };
  out.copy_(unpack_rows(packed, meta_.packing, at::kFloat, begin, end));  // small integers: exact
  out.sub_(zero.to(at::kFloat));
  round_to(dtypes.difference);
  out.mul_(scale.to(at::kFloat));
  round_to(dtypes.product);
}

at::Tensor HqqLinear::dequantize_float() const {
  at::Tensor w = sdk::weight_buffer({meta_.rows, meta_.cols}, at::kFloat);
  dequantize_rows_into(packed(), 0, meta_.rows, zero_, scale_, w);
  return w.reshape({meta_.out_features, meta_.in_features});
}

at::Tensor HqqLinear::dequantize() const {
  const StepDtypes dtypes = step_dtypes(meta_.compute_dtype, zero_, scale_);
  // CUDA: the companion's kernel reads the packed codes once and writes the product dtype (the same values as the
  // operators, in one launch instead of a pass per plane and step and their temporaries). Steps in other dtypes than
  // fp32/fp16/bf16 (a hand-built state's) stay with the operators.
  if (W_q_.is_cuda() && cuda_ops_built() && code_rows_supported(dtypes))
    return cuda_ops()
        .dequantize(packed(), zero_, scale_, static_cast<int>(code_bits(meta_.packing)), meta_.rows, meta_.cols,
                    dtypes.difference, dtypes.product)
        .view({meta_.out_features, meta_.in_features});
  if (!W_q_.device().is_cpu()) return dequantize_by_operators(packed(), meta_, zero_, scale_);
  return dequantize_float().to(dtypes.product);
}

void HqqLinear::set_cache_dequantized(bool enabled) { weight_cache_.set_enabled(enabled); }

at::Tensor HqqLinear::compute_weight() {
  return weight_cache_.get({&W_q_, &scale_, &zero_},
                           [&] { return W_q_.device().is_cpu() ? dequantize_float() : dequantize(); });
}

at::Tensor HqqLinear::forward(const at::Tensor& x) {
  if (x.device() != device())
    throw std::invalid_argument("hqq: input is on " + x.device().str() + ", the layer's tensors on " + device().str());
  if (x.size(-1) != meta_.in_features)
    throw std::invalid_argument("hqq: input has " + std::to_string(x.size(-1)) + " features, the layer expects " +
                                std::to_string(meta_.in_features));
  // A few tokens on the CPU with groups along the input (axis 1, the usual setting): straight from the codes where the
  // code row product applies (up to 16 tokens of byte packings on x86 with AVX2), else W a tile of output rows at a
  // time.
  const bool on_cpu = device().is_cpu();
  const bool rows_whole = on_cpu && meta_.settings.axis == 1 && meta_.in_features % meta_.cols == 0 &&
                          scale_.sizes() == at::IntArrayRef({meta_.rows, 1}) && zero_.sizes() == scale_.sizes();
  if (!weight_cache_.enabled() && rows_whole && sdk::tiled_linear_applies(x, bias_)) {
    const at::Tensor codes = packed();
    const int64_t tokens = x.numel() / meta_.in_features;
    const CodeRowWeights weights{codes,
                                 meta_.packing,
                                 zero_,
                                 scale_,
                                 step_dtypes(meta_.compute_dtype, zero_, scale_),
                                 meta_.out_features,
                                 meta_.in_features};
    if (code_row_product_applies(tokens, weights))
      return sdk::few_token_result(code_row_product(x.reshape({tokens, -1}).to(at::kFloat).contiguous(), weights), x,
                                   bias_);
    const int64_t code_rows = meta_.in_features / meta_.cols;  // per output row
    return sdk::tiled_dequantized_linear(x, bias_, meta_.out_features, at::kFloat, sdk::TileLayout::kOutByIn, 1,
                                         [&](int64_t first, int64_t count, const at::Tensor& tile) {
                                           const int64_t begin = first * code_rows, rows = count * code_rows;
                                           dequantize_rows_into(
                                               codes, begin, begin + rows, zero_.narrow(0, begin, rows),
                                               scale_.narrow(0, begin, rows), tile.view({rows, meta_.cols}));
                                         });
  }
  // compute_weight()'s dtype: fp32 on the CPU, the dequantized weight's elsewhere.
  const at::ScalarType dtype = on_cpu ? at::kFloat : step_dtypes(meta_.compute_dtype, zero_, scale_).product;
  const at::Tensor b = bias_.defined() ? bias_.to(dtype) : at::Tensor();
  return sdk::linear_recomputing_weight(x.to(dtype), b, *this, [this] { return compute_weight(); }).to(x.scalar_type());
}

void HqqLinear::set_dense_weight(const at::Tensor& weight) {
  if (!weight.defined() || weight.dim() != 2 || weight.size(0) != meta_.out_features ||
      weight.size(1) != meta_.in_features)
    throw std::invalid_argument("hqq: dense weight must be (" + std::to_string(meta_.out_features) + ", " +
                                std::to_string(meta_.in_features) + ")");
  // As PEFT's HqqBackend: the rotated weight in the compute dtype, quantized with the same settings (on a CPU copy;
  // q's tensors are on the weight's device, copied into the layer's wherever they are).
  HqqState q = quantize_state(weight.to(meta_.compute_dtype), at::Tensor(), meta_.settings, meta_.compute_dtype);
  // Through the integer view: a float view of packed bytes may hold NaN patterns.
  const at::ScalarType packed = packed_dtype(meta_.packing);
  W_q_.view(packed).copy_(q.W_q.view(packed));
  scale_.copy_(q.scale);
  zero_.copy_(q.zero);
}

}  // namespace oft::hqq
