// The template backend: an int8 linear layer with one fp32 scale per output row. It shows the three
// things a backend gives the oft host:
//   - its layer (a sdk::LinearModule: what the model calls and what OFT sits on),
//   - its format (loader from checkpoint tensors, quantizer from float weights and the `oft quantize`
//     methods that use it, saver),
//   - its dispatcher (one line, sdk::TypedDispatcher: tells the host to put OFT on its layers).
// A real backend replaces the packing, scales and kernels and keeps the shape of this file.
#include <stdexcept>

#include <ATen/ATen.h>

#include "oft/sdk/linear_format.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

constexpr const char* kFormatName = "template_int8";

// Checkpoint tensors: weight (out, in) int8, weight_scale (out) fp32, bias (out) optional.
class TemplateInt8Linear final : public oft::sdk::LinearModule {
 public:
  TemplateInt8Linear(at::Tensor weight, at::Tensor weight_scale, at::Tensor optional_bias) {
    qweight = register_buffer("weight", std::move(weight));
    scale = register_buffer("weight_scale", std::move(weight_scale));
    if (optional_bias.defined()) bias = register_parameter("bias", std::move(optional_bias), /*requires_grad=*/false);
  }

  static std::shared_ptr<TemplateInt8Linear> quantized(const at::Tensor& dense, const at::Tensor& bias) {
    auto layer =
        std::make_shared<TemplateInt8Linear>(at::empty(dense.sizes(), at::kChar), at::empty({dense.size(0)}),
                                             bias.defined() ? bias.detach().to(at::kFloat).clone() : at::Tensor());
    layer->set_dense_weight(dense);
    return layer;
  }

  std::string format() const override { return kFormatName; }
  std::string type_name() const override { return "TemplateInt8Linear"; }
  int64_t in_features() const override { return qweight.size(1); }
  int64_t out_features() const override { return qweight.size(0); }
  c10::ScalarType compute_dtype() const override { return at::kFloat; }
  c10::Device device() const override { return qweight.device(); }
  // The dequantized W is dropped after the product and made again for the backward: at::linear would keep every
  // layer's W, a dense copy of the model, until the backward in training.
  at::Tensor forward(const at::Tensor& x) override {
    return oft::sdk::linear_recomputing_weight(x, bias, *this, [this] { return dense_weight(); });
  }
  oft::sdk::MergePolicy merge_policy() const override {
    return {oft::sdk::MergeMode::Requantize, "the rotated weight is quantized to int8 again"};
  }
  at::Tensor dense_weight() override { return qweight.to(at::kFloat) * scale.unsqueeze(1); }
  // Symmetric per-row int8: scale = max|w| / 127.
  void set_dense_weight(const at::Tensor& dense) override {
    at::NoGradGuard no_grad;
    at::Tensor w = dense.detach().to(at::kFloat);
    scale.copy_(w.abs().amax(1).clamp_min(1e-12) / 127);
    qweight.copy_((w / scale.unsqueeze(1)).round().clamp(-127, 127).to(at::kChar));
  }

  at::Tensor qweight, scale, bias;
};

class TemplateFormat final : public oft::sdk::LinearFormat {
 public:
  std::string name() const override { return kFormatName; }

  bool recognizes(const oft::sdk::TensorMap& tensors, const std::string&) const override {
    return tensors.count("weight_scale") != 0;
  }

  std::shared_ptr<oft::sdk::LinearModule> load(const oft::sdk::TensorMap& tensors, const oft::sdk::LinearShape& shape,
                                               const std::string&) const override {
    const at::Tensor& weight = required(tensors, "weight");
    const at::Tensor& scale = required(tensors, "weight_scale");
    if (weight.scalar_type() != at::kChar || weight.sizes() != at::IntArrayRef{shape.out_features, shape.in_features})
      throw std::invalid_argument("tensor 'weight' must be int8 of shape (" + std::to_string(shape.out_features) +
                                  ", " + std::to_string(shape.in_features) + ")");
    if (scale.dim() != 1 || scale.size(0) != shape.out_features)
      throw std::invalid_argument("tensor 'weight_scale' must have shape (" + std::to_string(shape.out_features) + ")");
    at::Tensor bias = shape.bias ? required(tensors, "bias").to(at::kFloat) : at::Tensor();
    return std::make_shared<TemplateInt8Linear>(weight.clone(), scale.to(at::kFloat).clone(), bias);
  }

  std::shared_ptr<oft::sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias, const std::string&,
                                                   const at::Tensor&) const override {
    if (weight.dim() != 2)
      throw std::invalid_argument("the weight to quantize must be 2-D (out_features, in_features)");
    return TemplateInt8Linear::quantized(weight, bias);
  }

  std::string quantization_config(const std::string&) const override { return R"({"quant_method": "template_int8"})"; }

  oft::sdk::TensorMap save(const oft::sdk::LinearModule& layer) const override {
    const auto& t = dynamic_cast<const TemplateInt8Linear&>(layer);
    oft::sdk::TensorMap out{{"weight", t.qweight}, {"weight_scale", t.scale}};
    if (t.bias.defined()) out["bias"] = t.bias;
    return out;
  }

  // What `oft quantize --method template-int8` runs (listed by `oft quantize --help` and `oft plugins`).
  std::vector<oft::sdk::QuantizeMethod> quantize_methods() const override {
    return {{"template-int8", "symmetric int8 rows with one fp32 scale each (the SDK's template)", "{}",
             /*needs_calibration=*/false}};
  }

  // Layers merge one by one (see merge_policy); nothing in the model's quantization_config forbids it.
  std::string model_merge_refusal(const std::string&) const override { return ""; }

 private:
  static const at::Tensor& required(const oft::sdk::TensorMap& tensors, const std::string& name) {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw std::invalid_argument("missing tensor '" + name + "'");
    return it->second;
  }
};

void register_template(oft::sdk::Registrar& registrar) {
  // Between the shipped backends (100-800) and the built-in default (1000).
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<TemplateInt8Linear>>("template", 900));
  registrar.add_format(std::make_shared<TemplateFormat>());
}

}  // namespace

OFT_PLUGIN("template", "0.2.0", register_template)
