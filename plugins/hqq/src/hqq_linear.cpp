#include "hqq_linear.h"

#include <stdexcept>
#include <utility>

#include <ATen/ATen.h>

#include "hqq_packing.h"
#include "hqq_quantizer.h"
#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::hqq {

HqqLinear::HqqLinear(HqqState state) : meta_(std::move(state.meta)) {
  W_q_ = register_buffer("W_q", state.W_q);
  scale_ = register_buffer("scale", state.scale);
  zero_ = register_buffer("zero", state.zero);
  if (state.bias.defined()) bias_ = register_buffer("bias", state.bias);
}

HqqState HqqLinear::state() const { return {meta_, W_q_, scale_, zero_, bias_}; }

at::Tensor HqqLinear::codes() const {
  at::Tensor packed = meta_.settings.view_as_float ? W_q_.view(packed_dtype(meta_.packing)) : W_q_;
  // 3-bit packing pads the rows to a multiple of 10; hqq keeps the first `rows`.
  return unpack(packed, meta_.packing, meta_.compute_dtype).slice(0, 0, meta_.rows);
}

at::Tensor HqqLinear::dequantize() const {
  return codes().sub(zero_).mul(scale_).reshape({meta_.out_features, meta_.in_features});
}

void HqqLinear::set_cache_dequantized(bool enabled) { weight_cache_.set_enabled(enabled); }

at::Tensor HqqLinear::compute_weight() {
  return weight_cache_.get({&W_q_, &scale_, &zero_}, [&] { return dequantize().to(at::kFloat); });
}

at::Tensor HqqLinear::forward(const at::Tensor& x) {
  expect_cpu(x, "input");
  if (x.size(-1) != meta_.in_features)
    throw std::invalid_argument("hqq: input has " + std::to_string(x.size(-1)) + " features, the layer expects " +
                                std::to_string(meta_.in_features));
  // A few tokens with groups along the input (axis 1, the usual setting): W a tile of output rows at a time.
  const bool rows_whole = meta_.settings.axis == 1 && meta_.in_features % meta_.cols == 0 &&
                          scale_.sizes() == at::IntArrayRef({meta_.rows, 1}) && zero_.sizes() == scale_.sizes();
  if (!weight_cache_.enabled() && rows_whole && sdk::tiled_linear_applies(x, bias_)) {
    const at::Tensor packed = meta_.settings.view_as_float ? W_q_.view(packed_dtype(meta_.packing)) : W_q_;
    const int64_t code_rows = meta_.in_features / meta_.cols;  // per output row
    return sdk::tiled_dequantized_linear(x, bias_, meta_.out_features, at::kFloat, sdk::TileLayout::kOutByIn, 1,
                                         [&](int64_t first, int64_t count, const at::Tensor& tile) {
                                           const int64_t begin = first * code_rows, rows = count * code_rows;
                                           const at::Tensor codes = unpack_rows(
                                               packed, meta_.packing, meta_.compute_dtype, begin, begin + rows);
                                           tile.copy_(codes.sub(zero_.narrow(0, begin, rows))
                                                          .mul(scale_.narrow(0, begin, rows))
                                                          .reshape({count, meta_.in_features}));
                                         });
  }
  at::Tensor w = compute_weight();
  at::Tensor b = bias_.defined() ? bias_.to(at::kFloat) : at::Tensor();
  return at::linear(x.to(at::kFloat), w, b).to(x.scalar_type());
}

void HqqLinear::set_dense_weight(const at::Tensor& weight) {
  if (!weight.defined() || weight.dim() != 2 || weight.size(0) != meta_.out_features ||
      weight.size(1) != meta_.in_features)
    throw std::invalid_argument("hqq: dense weight must be (" + std::to_string(meta_.out_features) + ", " +
                                std::to_string(meta_.in_features) + ")");
  // As PEFT's HqqBackend: the rotated weight in the compute dtype, quantized with the same settings.
  HqqState q = quantize_state(weight.to(meta_.compute_dtype), at::Tensor(), meta_.settings, meta_.compute_dtype);
  // Through the integer view: a float view of packed bytes may hold NaN patterns.
  const at::ScalarType packed = packed_dtype(meta_.packing);
  W_q_.view(packed).copy_(q.W_q.view(packed));
  scale_.copy_(q.scale);
  zero_.copy_(q.zero);
}

}  // namespace oft::hqq
