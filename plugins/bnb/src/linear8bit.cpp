#include "linear8bit.h"

#include <stdexcept>
#include <string>

#include <c10/core/GradMode.h>

#include "cuda_ops.h"
#include "int8_math.h"
#include "oft/sdk/recomputed_weight_linear.h"

namespace oft::bnb {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

}  // namespace

Linear8bitLt::Linear8bitLt(const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias, double threshold)
    : sdk::LinearModule("Linear8bitLt"), threshold_(threshold) {
  if (!cb.defined() || cb.scalar_type() != at::kChar || cb.dim() != 2)
    throw std::invalid_argument(
        "weight: expected int8 (out_features, in_features) for bitsandbytes 8-bit, got " +
        (cb.defined() ? std::string(c10::toString(cb.scalar_type())) + " " + shape_of(cb) : std::string("nothing")));
  if (!scb.defined() || !at::isFloatingType(scb.scalar_type()) || scb.dim() != 1 || scb.size(0) != cb.size(0))
    throw std::invalid_argument(
        "SCB: expected float (" + std::to_string(cb.size(0)) + ") row statistics, got " +
        (scb.defined() ? std::string(c10::toString(scb.scalar_type())) + " " + shape_of(scb) : std::string("nothing")));
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != cb.size(0) || !at::isFloatingType(bias.scalar_type())))
    throw std::invalid_argument("bias: expected float (" + std::to_string(cb.size(0)) + "), got " + shape_of(bias));
  if (threshold < 0) throw std::invalid_argument("llm_int8_threshold: expected >= 0");
  weight_ = register_parameter("weight", cb.contiguous(), /*requires_grad=*/false);
  scb_ = register_buffer("SCB", scb.to(at::kFloat).contiguous());
  if (bias.defined()) bias_ = register_parameter("bias", bias.detach().clone(), /*requires_grad=*/false);
}

std::shared_ptr<Linear8bitLt> Linear8bitLt::from_float(const at::Tensor& weight, const at::Tensor& bias,
                                                       double threshold) {
  if (!weight.defined() || weight.dim() != 2 || !at::isFloatingType(weight.scalar_type()))
    throw std::invalid_argument("weight: expected a float (out_features, in_features) matrix to quantize");
  const Int8Weight q = quantize_int8(weight);  // on the CPU
  auto layer = std::make_shared<Linear8bitLt>(q.cb, q.scb, bias.defined() ? bias.to(at::kCPU) : bias, threshold);
  if (!weight.device().is_cpu()) layer->to(weight.device());
  return layer;
}

at::Tensor Linear8bitLt::forward(const at::Tensor& x) {
  if (x.size(-1) != in_features())
    throw std::invalid_argument("Linear8bitLt: input has " + std::to_string(x.size(-1)) + " features, expected " +
                                std::to_string(in_features()));
  if (weight_.is_cuda()) {
    // On CUDA, training and eval: the weight dequantized to x's dtype, one GEMM (bnb's MatMul8bitFp). No
    // activation quantization, so no outlier split: every column takes what the CPU path gives outliers.
    return sdk::linear_recomputing_weight(
        x, bias_.defined() ? bias_.to(x.scalar_type()) : bias_, *this,
        [this, dtype = x.scalar_type()] { return cuda_ops().dequantize_int8(weight_, scb_, dtype); });
  }
  if (is_training()) return dequantized_forward(x, weight_, scb_, bias_, *this);
  at::Tensor y = int8_forward(x, weight_, scb_, bias_, threshold_);
  if (c10::GradMode::is_enabled() && x.requires_grad()) {
    const at::Tensor z = dequantized_forward(x, weight_, scb_, at::Tensor(), *this);
    y = z + (y - z).detach();  // the int8 value, the dequantized weight's gradient
  }
  return y;
}

sdk::MergePolicy Linear8bitLt::merge_policy() const {
  return {sdk::MergeMode::Requantize,
          "bitsandbytes 8-bit: the merged weight is quantized to int8 again (per-row absmax), so merged outputs "
          "differ from the unmerged adapter by that rounding"};
}

at::Tensor Linear8bitLt::dense_weight() { return dequantize_int8(weight_, scb_); }

void Linear8bitLt::set_dense_weight(const at::Tensor& weight) {
  if (!weight.defined() || weight.dim() != 2 || weight.size(0) != out_features() || weight.size(1) != in_features())
    throw std::invalid_argument("Linear8bitLt: dense weight must be (" + std::to_string(out_features()) + ", " +
                                std::to_string(in_features()) + ")");
  const Int8Weight q = quantize_int8(weight);
  weight_.copy_(q.cb);  // in place, onto the layer's device: parameter and buffer identities (and names) stay
  scb_.copy_(q.scb);
}

}  // namespace oft::bnb
