#include "oft/adapter/oft_linear.h"

#include <ATen/ATen.h>

#include "nn/dense_linear.h"
#include "oft/errors.h"

namespace oft {

OFTLinearImpl::OFTLinearImpl(std::shared_ptr<sdk::LinearBase> base) : OFTLayer("oft_R"), base_(std::move(base)) {
  if (!base_) throw UsageError("OFT Linear needs a base layer, got null");
  register_module("base_layer", base_->module());
  layer_label_ = base_->type_name() + "(" + std::to_string(base_->in_features()) + " -> " +
                 std::to_string(base_->out_features()) + ")";
  dense_ = dynamic_cast<DenseLinear*>(base_.get()) || dynamic_cast<Conv1DLinear*>(base_.get());
  if (dense_) {
    const auto own = base_->module()->named_parameters(/*recurse=*/false);
    if (const at::Tensor* bias = own.find("bias")) bias_ = *bias;
  }
}

OFTLinearImpl::OFTLinearImpl(torch::nn::Linear base) : OFTLinearImpl(std::make_shared<DenseLinear>(std::move(base))) {}

OFTLinearImpl::OFTLinearImpl(Conv1D base) : OFTLinearImpl(std::make_shared<Conv1DLinear>(std::move(base))) {}

at::Tensor OFTLinearImpl::forward(const at::Tensor& x) {
  if (!adapters_enabled()) {
    prepare_disabled_forward();
    return base_->forward(x);
  }
  if (const at::Tensor folded = eval_folded_weight(x); folded.defined()) return at::linear(x, folded, bias_);
  return base_->forward(rotate(x)).to(x.scalar_type());
}

}  // namespace oft
