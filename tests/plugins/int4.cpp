// fixture_int4: a backend added in tests/ alone, to show that a new format's quantize method reaches
// `oft quantize`, `oft plugins` and `oft plan` with no change to the host (tests/app/plugin_method_test.sh).
// Its format "fixture_int4" keeps symmetric 4-bit codes per output row (one int8 per code, unpacked)
// and an fp32 scale per row; it offers the method "fixture-int4" and refuses merging for a model
// quantized with it, a model-level refusal that is not gptq's.
#include <stdexcept>

#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <nlohmann/json.hpp>

#include "oft/sdk/linear_format.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

constexpr const char* kFormat = "fixture_int4";
constexpr const char* kScale = "weight_int4_scale";  // the tensor that marks the format in a checkpoint

class Int4Linear final : public oft::sdk::LinearModule {
 public:
  Int4Linear(at::Tensor codes_tensor, at::Tensor scale_tensor, at::Tensor bias_tensor) {
    codes = register_buffer("weight", std::move(codes_tensor));
    scale = register_buffer(kScale, std::move(scale_tensor));
    if (bias_tensor.defined()) bias = register_parameter("bias", std::move(bias_tensor), /*requires_grad=*/false);
  }

  std::string format() const override { return kFormat; }
  std::string type_name() const override { return "FixtureInt4Linear"; }
  int64_t in_features() const override { return codes.size(1); }
  int64_t out_features() const override { return codes.size(0); }
  c10::ScalarType compute_dtype() const override { return at::kFloat; }
  c10::Device device() const override { return codes.device(); }
  at::Tensor forward(const at::Tensor& x) override { return at::linear(x.to(at::kFloat), dense_weight(), bias); }
  oft::sdk::MergePolicy merge_policy() const override {
    return {oft::sdk::MergeMode::Requantize, "the rotated weight is quantized to 4 bits again"};
  }
  at::Tensor dense_weight() override { return codes.to(at::kFloat) * scale.unsqueeze(1); }
  // Symmetric per row: scale = max|w| / 7, codes in [-7, 7].
  void set_dense_weight(const at::Tensor& dense) override {
    at::NoGradGuard no_grad;
    const at::Tensor w = dense.detach().to(at::kFloat);
    scale.copy_(w.abs().amax(1).clamp_min(1e-12) / 7);
    codes.copy_((w / scale.unsqueeze(1)).round().clamp(-7, 7).to(at::kChar));
  }

  at::Tensor codes, scale, bias;
};

const at::Tensor& required(const oft::sdk::TensorMap& tensors, const std::string& name) {
  const auto it = tensors.find(name);
  if (it == tensors.end()) throw std::invalid_argument("missing tensor '" + name + "'");
  return it->second;
}

class Int4Format final : public oft::sdk::LinearFormat {
 public:
  std::string name() const override { return kFormat; }
  bool recognizes(const oft::sdk::TensorMap& tensors, const std::string&) const override {
    return tensors.count(kScale) != 0;
  }
  std::shared_ptr<oft::sdk::LinearModule> load(const oft::sdk::TensorMap& tensors, const oft::sdk::LinearShape& shape,
                                               const std::string&) const override {
    const at::Tensor& codes = required(tensors, "weight");
    if (codes.scalar_type() != at::kChar || codes.sizes() != at::IntArrayRef{shape.out_features, shape.in_features})
      throw std::invalid_argument("tensor 'weight' must be int8 codes of shape (out_features, in_features)");
    const at::Tensor bias = shape.bias ? required(tensors, "bias").to(at::kFloat) : at::Tensor();
    return std::make_shared<Int4Linear>(codes.clone(), required(tensors, kScale).to(at::kFloat).clone(), bias);
  }
  std::shared_ptr<oft::sdk::LinearModule> quantize(const at::Tensor& weight, const at::Tensor& bias, const std::string&,
                                                   const at::Tensor&) const override {
    auto layer = std::make_shared<Int4Linear>(at::empty(weight.sizes(), at::kChar), at::empty({weight.size(0)}),
                                              bias.defined() ? bias.detach().to(at::kFloat).clone() : at::Tensor());
    layer->set_dense_weight(weight);
    return layer;
  }
  std::string quantization_config(const std::string&) const override {
    return nlohmann::json{{"quant_method", kFormat}}.dump();
  }
  oft::sdk::TensorMap save(const oft::sdk::LinearModule& layer) const override {
    const auto& l = dynamic_cast<const Int4Linear&>(layer);
    oft::sdk::TensorMap out{{"weight", l.codes}, {kScale, l.scale}};
    if (l.bias.defined()) out["bias"] = l.bias;
    return out;
  }
  std::vector<oft::sdk::QuantizeMethod> quantize_methods() const override {
    return {{"fixture-int4", "test fixture: symmetric 4-bit rows, one fp32 scale each", "{}", false}};
  }
  std::string model_merge_refusal(const std::string& quantization_config_json) const override {
    const auto config = nlohmann::json::parse(quantization_config_json, nullptr, /*allow_exceptions=*/false);
    const bool ours = config.is_object() && config.value("quant_method", "") == kFormat;
    return ours ? "fixture_int4 models are never merged (a model-level refusal from a test plugin)" : "";
  }
};

void register_int4(oft::sdk::Registrar& registrar) {
  // After the shipped backends, before the built-in default.
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<Int4Linear>>(kFormat, 950));
  registrar.add_format(std::make_shared<Int4Format>());
}

}  // namespace

OFT_PLUGIN("fixture_int4", "1.0.0", register_int4)
