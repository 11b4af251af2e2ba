#include "gptq_linear.h"

#include <stdexcept>
#include <utility>

#include <ATen/ATen.h>

#include "gptq_cuda_ops.h"
#include "gptq_dequant_cpu.h"
#include "gptq_gemv_cpu.h"
#include "gptq_packing.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/tensor_checks.h"
#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::gptq {
GptqLinear::GptqLinear(GptqTensors t, const sdk::LinearShape& shape, const GptqConfig& config)
    : config_(config), in_features_(shape.in_features), out_features_(shape.out_features) {
  const int64_t k = in_features_, n = out_features_, bits = config.bits;
  // The packed dimensions hold whole runs of 32 values (GPTQModel's packer requires the same).
  if (k <= 0 || k % 32 != 0 || n <= 0 || n % 32 != 0)
    throw std::invalid_argument("gptq: in_features and out_features must be positive multiples of 32, got " +
                                std::to_string(k) + " and " + std::to_string(n));
  const int64_t groups = config.num_groups(k);
  for (auto [tensor, name] : {std::pair{&t.qweight, "qweight"}, {&t.qzeros, "qzeros"}, {&t.scales, "scales"}})
    if (!tensor->defined()) throw std::invalid_argument(std::string("gptq: tensor \"") + name + "\" is missing");
  sdk::expect_dtype("gptq", t.qweight, "qweight", at::kInt);
  sdk::expect_shape("gptq", t.qweight, "qweight", {k * bits / 32, n});
  sdk::expect_dtype("gptq", t.qzeros, "qzeros", at::kInt);
  sdk::expect_shape("gptq", t.qzeros, "qzeros", {groups, n * bits / 32});
  // The dequantization computes in fp32 and rounds to the scales' dtype, as the library does in it.
  if (const auto dtype = t.scales.scalar_type(); dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kFloat)
    throw std::invalid_argument("gptq: tensor \"scales\" has dtype " + std::string(c10::toString(dtype)) +
                                ", expected Half, BFloat16 or Float (Half in checkpoints)");
  sdk::expect_shape("gptq", t.scales, "scales", {groups, n});
  if (t.g_idx.defined()) {
    if (t.g_idx.scalar_type() != at::kInt && t.g_idx.scalar_type() != at::kLong)
      throw std::invalid_argument("gptq: tensor \"g_idx\" has dtype " +
                                  std::string(c10::toString(t.g_idx.scalar_type())) + ", expected int32");
    sdk::expect_shape("gptq", t.g_idx, "g_idx", {k});
    check_group_indices(t.g_idx, groups);
    t.g_idx = t.g_idx.to(at::kInt);
  } else {
    // Very old checkpoints have no g_idx: inputs are grouped in order.
    t.g_idx = at::arange(k, t.qweight.options().dtype(at::kInt)).div(config.effective_group_size(k), "floor");
  }
  if (shape.bias && !t.bias.defined())
    throw std::invalid_argument("gptq: tensor \"bias\" is missing (the layer has a bias)");
  if (!shape.bias && t.bias.defined())
    throw std::invalid_argument("gptq: tensor \"bias\" is present but the layer has no bias");
  if (t.bias.defined()) sdk::expect_shape("gptq", t.bias, "bias", {n});

  qweight_ = register_buffer("qweight", t.qweight);
  qzeros_ = register_buffer("qzeros", t.qzeros);
  scales_ = register_buffer("scales", t.scales);
  g_idx_ = register_buffer("g_idx", t.g_idx);
  if (t.bias.defined()) bias_ = register_buffer("bias", t.bias);
  zeros_cache_.set_enabled(true);
}

at::Tensor GptqLinear::codes() const { return unpack_rows(qweight_, config_.bits); }
at::Tensor GptqLinear::zeros() const { return decode_zeros(qzeros_, config_.bits, config_.checkpoint_format); }

at::Tensor GptqLinear::current_zeros() const {
  const std::lock_guard<std::mutex> lock(decoded_mutex_);
  return zeros_cache_.get({&qzeros_}, [&] { return zeros(); });
}

void GptqLinear::check_g_idx_when_changed() const {
  const std::lock_guard<std::mutex> lock(decoded_mutex_);
  if (checked_g_idx_ && checked_g_idx_->matches(g_idx_)) return;
  checked_g_idx_.reset();
  check_group_indices(g_idx_, scales_.size(0));
  if (sdk::TensorStamp::trackable(g_idx_)) checked_g_idx_.emplace(g_idx_);
}

at::Tensor GptqLinear::dequantize_float_kn() const {
  if (qweight_.is_cuda()) return dequantize_kn().to(at::kFloat);
  at::Tensor z = current_zeros().to(at::kFloat);  // (groups, out)
  at::Tensor s = scales_.to(at::kFloat);
  if (qweight_.device().is_cpu()) return dequantize_cpu(qweight_, z, s, g_idx_, config_.bits, scales_.scalar_type());
  at::Tensor g = g_idx_.to(at::kLong);
  at::Tensor w = (codes().to(at::kFloat) - z.index_select(0, g)).mul_(s.index_select(0, g));
  return w.to(scales_.scalar_type()).to(at::kFloat);
}

at::Tensor GptqLinear::dequantize_kn() const {
  // CUDA: the companion library's kernel writes the scales dtype directly (the same values, no fp32 copy).
  if (qweight_.is_cuda()) {
    check_g_idx_when_changed();  // the kernel clamps group indices rather than report them
    return cuda_ops().dequantize_kn(qweight_, current_zeros(), scales_, g_idx_, config_.bits, scales_.scalar_type());
  }
  return dequantize_float_kn().to(scales_.scalar_type());
}

at::Tensor GptqLinear::dequantize() const { return dequantize_kn().t().contiguous(); }

void GptqLinear::set_cache_dequantized(bool enabled) { weight_cache_.set_enabled(enabled); }

at::Tensor GptqLinear::compute_weight() {
  return weight_cache_.get({&qweight_, &qzeros_, &scales_, &g_idx_}, [&] {
    at::Tensor w = scales_.device().is_cpu() ? dequantize_float_kn() : dequantize_kn();
    // (out, in) as a transposed view: the matmul reads it without a copy.
    return w.t();
  });
}

at::Tensor GptqLinear::forward(const at::Tensor& x) {
  if (x.size(-1) != in_features_)
    throw std::invalid_argument("gptq: input has " + std::to_string(x.size(-1)) + " features, the layer expects " +
                                std::to_string(in_features_));
  // Few tokens on the CPU without a kept weight: W^T a tile of columns at a time, each multiplied while in
  // cache (no dense W written).
  if (qweight_.device().is_cpu() && !weight_cache_.enabled() && sdk::tiled_linear_applies(x, bias_)) {
    check_g_idx_when_changed();
    const at::Tensor q = qweight_.contiguous(), g = g_idx_.contiguous();
    const at::Tensor z = current_zeros().to(at::kFloat).contiguous(), s = scales_.to(at::kFloat).contiguous();
    if (gemv_applies(x.numel() / in_features_, config_.bits, out_features_, scales_.scalar_type())) {
      const at::Tensor x1 = x.reshape(-1).to(at::kFloat).contiguous();
      return sdk::few_token_result(gemv_cpu(x1, q, z, s, g, config_.bits, scales_.scalar_type()), x, bias_);
    }
    return sdk::tiled_dequantized_linear(x, bias_, out_features_, at::kFloat, sdk::TileLayout::kInByOut,
                                         /*row_alignment=*/1, [&](int64_t first, int64_t, const at::Tensor& tile) {
                                           dequantize_cpu_columns(q, z, s, g, config_.bits, scales_.scalar_type(),
                                                                  first, tile);
                                         });
  }
  // compute_weight()'s dtype: float32 on the CPU, the scales' dtype on CUDA.
  const auto dtype = scales_.device().is_cpu() ? at::kFloat : scales_.scalar_type();
  const at::Tensor b = bias_.defined() ? bias_.to(dtype) : at::Tensor();
  return sdk::linear_recomputing_weight(x.to(dtype), b, *this, [this] { return compute_weight(); }).to(x.scalar_type());
}

void GptqLinear::set_dense_weight(const at::Tensor&) {
  throw std::logic_error(std::string(kMergeRefused) + " (a GPTQ layer cannot take a rotated weight)");
}

}  // namespace oft::gptq
