// The template backend: an int8 linear layer with one fp32 scale per output row, and the
// dispatcher that tells the oft host to put OFT on it. A real backend replaces the format
// (packing, scales, kernels) and keeps the shape of this file.
#include <cmath>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "oft/sdk/dispatcher.h"
#include "oft/sdk/plugin.h"

namespace {

// The quantized module as it sits in a model: weight (out, in) int8, scale (out) fp32, bias (out).
class TemplateInt8Linear : public torch::nn::Module {
 public:
  explicit TemplateInt8Linear(const at::Tensor& dense_weight, const at::Tensor& bias) {
    qweight = register_buffer("qweight", at::empty(dense_weight.sizes(), at::kChar));
    scale = register_buffer("scale", at::empty({dense_weight.size(0)}));
    this->bias = register_parameter("bias", bias.detach().clone(), /*requires_grad=*/false);
    quantize_from(dense_weight);
  }

  // Symmetric per-row int8: scale = max|w| / 127.
  void quantize_from(const at::Tensor& dense) {
    at::Tensor row_max = dense.detach().abs().amax(1).clamp_min(1e-12).to(at::kFloat);
    scale.copy_(row_max / 127);
    qweight.copy_((dense.detach().to(at::kFloat) / scale.unsqueeze(1)).round().clamp(-127, 127).to(at::kChar));
  }
  at::Tensor dequantize() const { return qweight.to(at::kFloat) * scale.unsqueeze(1); }

  at::Tensor qweight, scale, bias;
};

// What the OFT wrapper sits on: forward, dense view of the weight, and how merging works.
class TemplateLinearBase final : public oft::sdk::LinearBase {
 public:
  explicit TemplateLinearBase(std::shared_ptr<TemplateInt8Linear> layer) : layer_(std::move(layer)) {}
  std::shared_ptr<torch::nn::Module> module() override { return layer_; }
  std::string type_name() const override { return "TemplateInt8Linear"; }
  int64_t in_features() const override { return layer_->qweight.size(1); }
  int64_t out_features() const override { return layer_->qweight.size(0); }
  c10::ScalarType compute_dtype() const override { return at::kFloat; }
  c10::Device device() const override { return layer_->qweight.device(); }
  at::Tensor forward(const at::Tensor& x) override { return at::linear(x, layer_->dequantize(), layer_->bias); }
  oft::sdk::MergePolicy merge_policy() const override {
    return {oft::sdk::MergeMode::Requantize, "the rotated weight is quantized to int8 again"};
  }
  at::Tensor dense_weight() override { return layer_->dequantize(); }
  void set_dense_weight(const at::Tensor& weight) override { layer_->quantize_from(weight); }

 private:
  std::shared_ptr<TemplateInt8Linear> layer_;
};

class TemplateDispatcher final : public oft::sdk::Dispatcher {
 public:
  std::string name() const override { return "template"; }
  // Between the shipped backends (100-800) and the built-in default (1000).
  int priority() const override { return 900; }
  std::optional<oft::sdk::Claim> claim(const oft::sdk::ModuleRef& module, const oft::sdk::DispatchContext&) override {
    auto layer = std::dynamic_pointer_cast<TemplateInt8Linear>(module.module);
    if (!layer) return std::nullopt;
    return oft::sdk::Claim{oft::sdk::Claim::Kind::Linear, std::make_shared<TemplateLinearBase>(std::move(layer))};
  }
};

void register_template(oft::sdk::Registrar& registrar) { registrar.add(std::make_shared<TemplateDispatcher>()); }

}  // namespace

OFT_PLUGIN("template", "0.1.0", register_template)
