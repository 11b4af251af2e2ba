#include "awq_linear.h"

#include <stdexcept>
#include <utility>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "awq_cuda_ops.h"
#include "awq_dequant_cpu.h"
#include "awq_dequant_operators.h"
#include "awq_gemv_cpu.h"
#include "awq_packing.h"
#include "awq_quantizer.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/tensor_checks.h"
#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::awq {
AwqLinear::AwqLinear(AwqTensors t, const sdk::LinearShape& shape, const AwqConfig& config)
    : config_(config), in_features_(shape.in_features), out_features_(shape.out_features) {
  const int64_t k = in_features_, n = out_features_, bits = config.bits;
  if (k <= 0 || n <= 0)
    throw std::invalid_argument("awq: in_features and out_features must be positive, got " + std::to_string(k) +
                                " and " + std::to_string(n));
  if (k % config.effective_group_size(k) != 0)
    throw std::invalid_argument("awq: group_size " + std::to_string(config.group_size) + " must divide in_features " +
                                std::to_string(k));
  for (auto [tensor, name] : {std::pair{&t.qweight, "qweight"}, {&t.qzeros, "qzeros"}, {&t.scales, "scales"}})
    if (!tensor->defined()) throw std::invalid_argument(std::string("awq: tensor \"") + name + "\" is missing");
  // One device for all: the layer computes where its tensors are.
  for (auto [tensor, name] : {std::pair{&t.qzeros, "qzeros"}, {&t.scales, "scales"}, {&t.bias, "bias"}})
    if (tensor->defined() && tensor->device() != t.qweight.device())
      throw std::invalid_argument(std::string("awq: tensor \"") + name + "\" is on " + tensor->device().str() +
                                  ", \"qweight\" on " + t.qweight.device().str());
  const int64_t groups = config.num_groups(k);
  sdk::expect_dtype("awq", t.qweight, "qweight", at::kInt);
  sdk::expect_dtype("awq", t.qzeros, "qzeros", at::kInt);
  // The dequantization computes in fp32 and rounds to the scales' dtype, as the library does in it.
  if (const auto dtype = t.scales.scalar_type(); dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kFloat)
    throw std::invalid_argument("awq: tensor \"scales\" has dtype " + std::string(c10::toString(dtype)) +
                                ", expected Half, BFloat16 or Float (Half in checkpoints)");
  if (config.layout == Layout::Gemm) {
    // GPTQModel's AWQ kernels need whole 32-bit words of 4-bit codes per 8 outputs (and pack all widths so).
    if (n % 8 != 0)
      throw std::invalid_argument("awq: out_features must be a multiple of 8 for the gemm format, got " +
                                  std::to_string(n));
    sdk::expect_shape("awq", t.qweight, "qweight", {k, gemm_words(n, config.bits)});
    sdk::expect_shape("awq", t.qzeros, "qzeros", {groups, gemm_words(n, config.bits)});
    sdk::expect_shape("awq", t.scales, "scales", {groups, n});
  } else {
    if (k % 8 != 0)
      throw std::invalid_argument("awq: in_features must be a multiple of 8 for the gemv format, got " +
                                  std::to_string(k));
    const int64_t width = gemv_zeros_width(k, config.effective_group_size(k));
    sdk::expect_shape("awq", t.qweight, "qweight", {n, k * bits / 32});
    sdk::expect_shape("awq", t.qzeros, "qzeros", {n, width});
    sdk::expect_shape("awq", t.scales, "scales", {n, 8 * width});
  }
  if (shape.bias && !t.bias.defined())
    throw std::invalid_argument("awq: tensor \"bias\" is missing (the layer has a bias)");
  if (!shape.bias && t.bias.defined())
    throw std::invalid_argument("awq: tensor \"bias\" is present but the layer has no bias");
  if (t.bias.defined()) sdk::expect_shape("awq", t.bias, "bias", {n});

  qweight_ = register_buffer("qweight", t.qweight);
  qzeros_ = register_buffer("qzeros", t.qzeros);
  scales_ = register_buffer("scales", t.scales);
  if (t.bias.defined()) bias_ = register_buffer("bias", t.bias);
}

at::Tensor AwqLinear::zeros() const {
  const int64_t groups = config_.num_groups(in_features_);
  if (config_.layout == Layout::Gemm) return unpack_gemm(qzeros_, config_.bits, out_features_);
  return unpack_sequential4(qzeros_).narrow(1, 0, groups).t().contiguous();
}

AwqLinear::CpuOperands AwqLinear::cpu_operands() const {
  if (config_.layout == Layout::Gemm)
    return {qweight_.contiguous(), decode_gemm_cpu(qzeros_, config_.bits, out_features_),
            scales_.to(at::kFloat).contiguous()};
  const int64_t groups = config_.num_groups(in_features_);
  return {qweight_.contiguous(), decode_sequential4_cpu(qzeros_).narrow(1, 0, groups).contiguous(),
          scales_.narrow(1, 0, groups).to(at::kFloat).contiguous()};
}

at::Tensor AwqLinear::dequantize_float() const {
  const CpuOperands o = cpu_operands();
  const int64_t gs = config_.effective_group_size(in_features_);
  if (config_.layout == Layout::Gemm)
    return dequantize_gemm_cpu(o.qweight, o.zeros, o.scales, config_.bits, gs, scales_.scalar_type()).t();
  return dequantize_gemv_cpu(o.qweight, o.zeros, o.scales, gs, scales_.scalar_type());
}

at::Tensor AwqLinear::dequantize_on_device() const {
  // CUDA: the companion's kernel reads the packed words once and writes the scales' dtype (the same values as the
  // operators, in one launch instead of a dozen).
  if (qweight_.is_cuda() && cuda_ops_built()) {
    const int64_t gs = config_.effective_group_size(in_features_);
    const auto dtype = scales_.scalar_type();
    if (config_.layout == Layout::Gemm)
      return cuda_ops()
          .dequantize_gemm(qweight_, qzeros_, scales_, config_.bits, gs, in_features_, out_features_, dtype)
          .t();
    return cuda_ops().dequantize_gemv(qweight_, qzeros_, scales_, gs, in_features_, out_features_, dtype);
  }
  return dequantize_by_operators(qweight_, qzeros_, scales_, config_, in_features_, out_features_);
}

at::Tensor AwqLinear::tiled_forward(const at::Tensor& x) const {
  const CpuOperands o = cpu_operands();
  const int64_t gs = config_.effective_group_size(in_features_);
  const auto round_to = scales_.scalar_type();
  if (config_.layout == Layout::Gemm) {
    if (gemv_applies(x.numel() / in_features_, config_.bits, out_features_, round_to)) {
      const at::Tensor x1 = x.reshape(-1).to(at::kFloat).contiguous();
      return sdk::few_token_result(gemv_gemm4_cpu(x1, o.qweight, o.zeros, o.scales, gs, round_to), x, bias_);
    }
    // At 4 bits a packed word holds eight output columns: tiles start on a word.
    return sdk::tiled_dequantized_linear(
        x, bias_, out_features_, at::kFloat, sdk::TileLayout::kInByOut, config_.bits == 4 ? 8 : 1,
        [&](int64_t first, int64_t, const at::Tensor& tile) {
          dequantize_gemm_cpu_columns(o.qweight, o.zeros, o.scales, config_.bits, gs, round_to, first, tile);
        });
  }
  if (gemv_layout_applies(x.numel() / in_features_, out_features_, gs, round_to)) {
    const at::Tensor x1 = x.reshape(-1).to(at::kFloat).contiguous();
    return sdk::few_token_result(gemv_sequential4_cpu(x1, o.qweight, o.zeros, o.scales, gs, round_to), x, bias_);
  }
  return sdk::tiled_dequantized_linear(x, bias_, out_features_, at::kFloat, sdk::TileLayout::kOutByIn, 1,
                                       [&](int64_t first, int64_t, const at::Tensor& tile) {
                                         dequantize_gemv_cpu_rows(o.qweight, o.zeros, o.scales, gs, round_to, first,
                                                                  tile);
                                       });
}

at::Tensor AwqLinear::dequantize() const {
  if (!qweight_.device().is_cpu()) return dequantize_on_device().contiguous();
  return dequantize_float().contiguous().to(scales_.scalar_type());
}

void AwqLinear::set_cache_dequantized(bool enabled) { weight_cache_.set_enabled(enabled); }

at::Tensor AwqLinear::compute_weight() {
  return weight_cache_.get({&qweight_, &qzeros_, &scales_},
                           [&] { return qweight_.device().is_cpu() ? dequantize_float() : dequantize_on_device(); });
}

at::Tensor AwqLinear::forward(const at::Tensor& x) {
  if (x.device() != device())
    throw std::invalid_argument("awq: input is on " + x.device().str() + ", the layer's tensors on " + device().str());
  if (x.size(-1) != in_features_)
    throw std::invalid_argument("awq: input has " + std::to_string(x.size(-1)) + " features, the layer expects " +
                                std::to_string(in_features_));
  const bool on_cpu = device().is_cpu();
  if (on_cpu && !weight_cache_.enabled() && sdk::tiled_linear_applies(x, bias_)) return tiled_forward(x);
  // compute_weight()'s dtype: fp32 on the CPU, the scales' dtype elsewhere.
  const at::ScalarType dtype = on_cpu ? at::kFloat : scales_.scalar_type();
  const at::Tensor b = bias_.defined() ? bias_.to(dtype) : at::Tensor();
  return sdk::linear_recomputing_weight(x.to(dtype), b, *this, [this] { return compute_weight(); }).to(x.scalar_type());
}

sdk::MergePolicy AwqLinear::merge_policy() const {
  return {sdk::MergeMode::Requantize,
          "awq: merging dequantizes the weight, rotates it and quantizes it again with round-to-nearest at the "
          "same bits, group size and zero point, so outputs change by the format's rounding (PEFT cannot merge "
          "AWQ layers)"};
}

void AwqLinear::set_dense_weight(const at::Tensor& weight) {
  if (weight.sizes() != at::IntArrayRef({out_features_, in_features_}))
    throw std::invalid_argument("awq: the dense weight has shape " + sdk::shape_text(weight.sizes()) + ", expected " +
                                sdk::shape_text({out_features_, in_features_}));
  // Quantized on a CPU copy (the quantizer runs there); copy_ moves the results to the layer's device.
  QuantizedWeight q = quantize_rtn(weight.to(at::kCPU, scales_.scalar_type()), config_, scales_.scalar_type());
  AwqTensors packed = pack_tensors(q.codes, q.scales, q.zeros, config_);
  torch::NoGradGuard no_grad;
  qweight_.copy_(packed.qweight);
  qzeros_.copy_(packed.qzeros);
  scales_.copy_(packed.scales);
}

AwqTensors pack_tensors(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& zeros,
                        const AwqConfig& config) {
  AwqTensors t;
  if (config.layout == Layout::Gemm) {
    t.qweight = pack_gemm(codes.t(), config.bits);
    t.qzeros = pack_gemm(zeros.t(), config.bits);
    t.scales = scales.t().contiguous();
    return t;
  }
  const int64_t n = codes.size(0), k = codes.size(1), groups = scales.size(1);
  const int64_t width = gemv_zeros_width(k, config.effective_group_size(k));
  at::Tensor padded_zeros = at::zeros({n, 8 * width}, zeros.options());
  padded_zeros.narrow(1, 0, groups).copy_(zeros);
  t.qweight = pack_sequential4(codes);
  t.qzeros = pack_sequential4(padded_zeros);
  t.scales = at::zeros({n, 8 * width}, scales.options());
  t.scales.narrow(1, 0, groups).copy_(scales);
  return t;
}

}  // namespace oft::awq
