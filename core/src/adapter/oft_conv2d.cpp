#include "oft/adapter/oft_conv2d.h"

#include <variant>

#include <ATen/ATen.h>

#include "oft/errors.h"

namespace oft {
namespace {

std::string padding_mode_name(const torch::nn::detail::conv_padding_mode_t& mode) {
  if (std::holds_alternative<torch::enumtype::kReflect>(mode)) return "reflect";
  if (std::holds_alternative<torch::enumtype::kReplicate>(mode)) return "replicate";
  if (std::holds_alternative<torch::enumtype::kCircular>(mode)) return "circular";
  return "zeros";
}

}  // namespace

OFTConv2dImpl::OFTConv2dImpl(torch::nn::Conv2d base) : OFTLayer("oft_R"), base_(std::move(base)) {
  register_module("base_layer", base_.ptr());
  const auto& o = base_->options;
  layer_label_ = "Conv2d(" + std::to_string(o.in_channels()) + " -> " + std::to_string(o.out_channels()) + ", kernel " +
                 std::to_string((*o.kernel_size())[0]) + "x" + std::to_string((*o.kernel_size())[1]) + ")";
}

int64_t OFTConv2dImpl::rotated_features() const {
  const auto& w = base_->weight;
  return w.size(1) * w.size(2) * w.size(3);
}

at::Tensor OFTConv2dImpl::weight_matrix() { return base_->weight.reshape({base_->weight.size(0), -1}); }

void OFTConv2dImpl::set_weight_matrix(const at::Tensor& weight) { base_->weight.copy_(weight.view_as(base_->weight)); }

at::Tensor OFTConv2dImpl::rotated_filters() { return fold_pending(weight_matrix()).view_as(base_->weight); }

at::Tensor OFTConv2dImpl::convolve(const at::Tensor& x, const at::Tensor& weight) const {
  const auto& o = base_->options;
  const auto stride = *o.stride();
  const auto dilation = *o.dilation();
  const auto mode = padding_mode_name(o.padding_mode());
  if (const auto* pad = std::get_if<torch::ExpandingArray<2>>(&o.padding())) {
    const auto p = **pad;
    if (mode == "zeros") return at::conv2d(x, weight, base_->bias, stride, p, dilation, o.groups());
    // Non-zero padding modes pad explicitly, as torch::nn::Conv2d does.
    auto padded = at::pad(x, {p[1], p[1], p[0], p[0]}, mode);
    return at::conv2d(padded, weight, base_->bias, stride, at::IntArrayRef({0, 0}), dilation, o.groups());
  }
  if (mode != "zeros")
    throw UsageError(layer_label_ + ": padding 'same'/'valid' with padding_mode '" + mode + "' is not supported");
  const bool same = std::holds_alternative<torch::enumtype::kSame>(o.padding());
  return at::conv2d(x, weight, base_->bias, stride, same ? "same" : "valid", dilation, o.groups());
}

at::Tensor OFTConv2dImpl::forward(const at::Tensor& x) {
  if (!adapters_enabled()) {
    prepare_disabled_forward();
    return base_->forward(x);
  }
  if (pending_adapters().empty()) return base_->forward(x);
  if (const at::Tensor folded = eval_folded_weight(x); folded.defined())
    return convolve(x, folded.view_as(base_->weight));
  return convolve(x, rotated_filters());
}

}  // namespace oft
