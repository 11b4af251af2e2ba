#include "hf/layers.h"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/errors.h"
#include "oft/hf/rms_norm.h"

namespace oft::models {
namespace {

at::TensorOptions on(c10::Device device) { return at::TensorOptions().device(device).dtype(at::kFloat); }

// Conv1DImpl allocates its weight on the CPU in its constructor; this one starts from an empty
// Conv1D and puts parameters of the real size on `device` in its place (the registered entries
// and the fields Conv1DImpl::forward reads).
class DeviceConv1DImpl : public Conv1DImpl {
 public:
  DeviceConv1DImpl(int64_t in, int64_t out, c10::Device device) : Conv1DImpl(0, 0) {
    in_features = in;
    out_features = out;
    weight = parameters_["weight"] = at::empty({in, out}, on(device));
    bias = parameters_["bias"] = at::empty({out}, on(device));
    if (device.is_meta()) return;
    torch::NoGradGuard no_grad;
    weight.normal_(0.0, 0.02);  // transformers' Conv1D init
    bias.zero_();
  }
};

}  // namespace

LayerNormImpl::LayerNormImpl(int64_t dim, double eps_, c10::Device device) : eps(eps_) {
  weight = register_parameter("weight", at::empty({dim}, on(device)));
  bias = register_parameter("bias", at::empty({dim}, on(device)));
  if (device.is_meta()) return;
  torch::NoGradGuard no_grad;
  weight.fill_(1.0);
  bias.zero_();
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x) {
  return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_, c10::Device device) : eps(eps_) {
  weight = register_parameter("weight", at::empty({dim}, on(device)));
  if (device.is_meta()) return;
  torch::NoGradGuard no_grad;
  weight.fill_(1.0);
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) { return rms_norm(x, weight, eps); }

torch::nn::Embedding make_embedding(int64_t count, int64_t dim, c10::Device device, std::optional<int64_t> padding_idx,
                                    at::Tensor shared) {
  at::Tensor weight = shared;
  if (!weight.defined()) {
    weight = at::empty({count, dim}, on(device));
    if (!device.is_meta()) {
      torch::NoGradGuard no_grad;
      weight.normal_(0.0, 0.02);
      if (padding_idx) weight[*padding_idx].zero_();
    }
  }
  // With _weight set, torch::nn::Embedding registers that tensor instead of allocating its own.
  auto options = torch::nn::EmbeddingOptions(count, dim)._weight(weight);
  if (padding_idx) options.padding_idx(*padding_idx);
  return torch::nn::Embedding(options);
}

oft::Linear make_linear(int64_t in, int64_t out, bool bias, c10::Device device) {
  return oft::Linear(LinearSpec{in, out, bias, device});
}

oft::Conv1D make_conv1d(int64_t in, int64_t out, c10::Device device) {
  return oft::Conv1D(std::shared_ptr<Conv1DImpl>(std::make_shared<DeviceConv1DImpl>(in, out, device)));
}

AttentionMask attention_mask_4d(const at::Tensor& attention_mask, int64_t batch, int64_t length, bool causal,
                                int64_t window, c10::Device device) {
  const bool window_masks = window > 0 && window < length;
  if (!attention_mask.defined() && !window_masks) return {at::Tensor(), causal};
  const auto positions = at::arange(length, at::TensorOptions().device(device).dtype(at::kLong));
  const auto query = positions.view({length, 1});
  const auto key = positions.view({1, length});
  at::Tensor allowed = at::ones({length, length}, at::TensorOptions().device(device).dtype(at::kBool));
  if (causal) allowed = allowed & (key <= query);
  if (window > 0) allowed = allowed & (query - key < window);
  allowed = allowed.view({1, 1, length, length});
  if (attention_mask.defined()) allowed = allowed & attention_mask.to(device).to(at::kBool).view({batch, 1, 1, length});
  // A row with no allowed key would give NaN; transformers lets such rows attend everything.
  return {allowed | at::logical_not(allowed).all(-1, /*keepdim=*/true)};
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMask& mask,
                     double scale) {
  const int64_t batch = q.size(0), heads = q.size(1), length = q.size(2), dim = q.size(3);
  const int64_t kv_heads = k.size(1);
  at::Tensor out;
  if (mask.allowed.defined()) {
    // A mask takes the operator off its fused kernels; with grouped-query attention it then needs every query
    // head's own copy of the keys and values, as transformers gives it.
    at::Tensor key = k, value = v;
    if (kv_heads != heads) {
      const int64_t groups = heads / kv_heads;
      auto repeat = [&](const at::Tensor& t) {
        return t.unsqueeze(2).expand({batch, kv_heads, groups, t.size(2), dim}).reshape({batch, heads, t.size(2), dim});
      };
      key = repeat(k);
      value = repeat(v);
    }
    out = at::scaled_dot_product_attention(q, key, value, mask.allowed, 0.0, mask.causal, scale);
  } else {
    // Causal or unmasked: the fused kernels read each key/value head for its group of query heads themselves
    // (enable_gqa), so no copy H / KV times the size of k and v is made and kept for the backward.
    out = at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, mask.causal, scale,
                                           /*enable_gqa=*/kv_heads != heads);
  }
  return out.transpose(1, 2).reshape({batch, length, heads * dim});
}

at::Tensor activation(const std::string& name, const at::Tensor& x) {
  if (name == "gelu") return at::gelu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return at::gelu(x, "tanh");
  if (name == "relu") return at::relu(x);
  if (name == "silu" || name == "swish") return at::silu(x);
  throw FormatError("unsupported activation '" + name + "' (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, silu)");
}

void check_activation(const std::string& name, const std::string& model_type) {
  if (name == "gelu" || name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "relu" || name == "silu" ||
      name == "swish")
    return;
  throw FormatError("config.json of a " + model_type + " model: unsupported activation '" + name +
                    "' (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, silu)");
}

void check_inputs(const at::Tensor& ids, const at::Tensor& mask, int64_t max_length) {
  if (!ids.defined() || ids.dim() != 2 || ids.scalar_type() != at::kLong)
    throw UsageError("input_ids must be an int64 tensor (batch, sequence)");
  if (max_length > 0 && ids.size(1) > max_length)
    throw UsageError("input_ids has " + std::to_string(ids.size(1)) + " positions; the model supports at most " +
                     std::to_string(max_length) + " (max_position_embeddings)");
  if (mask.defined() && mask.sizes() != ids.sizes())
    throw UsageError("attention_mask must have the shape of input_ids (batch, sequence)");
}

ConfigReader::ConfigReader(const nlohmann::json& config, std::string model_type)
    : config_(config), model_type_(std::move(model_type)) {}

bool ConfigReader::has(const std::string& key) const { return config_.contains(key) && !config_.at(key).is_null(); }

void ConfigReader::fail(const std::string& key, const std::string& what) const {
  throw FormatError("config.json of a " + model_type_ + " model: key '" + key + "' " + what);
}

int64_t ConfigReader::integer(const std::string& key) const {
  if (!has(key)) fail(key, "is missing (expected an integer)");
  const auto& v = config_.at(key);
  if (!v.is_number_integer()) fail(key, "must be an integer, got " + v.dump());
  return v.get<int64_t>();
}

int64_t ConfigReader::integer(const std::string& key, int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

int64_t ConfigReader::positive(const std::string& key) const {
  const int64_t v = integer(key);
  if (v < 1) fail(key, "must be at least 1, got " + std::to_string(v));
  return v;
}

int64_t ConfigReader::positive(const std::string& key, int64_t fallback) const {
  return has(key) ? positive(key) : fallback;
}

double ConfigReader::number(const std::string& key) const {
  if (!has(key)) fail(key, "is missing (expected a number)");
  const auto& v = config_.at(key);
  if (!v.is_number()) fail(key, "must be a number, got " + v.dump());
  return v.get<double>();
}

double ConfigReader::number(const std::string& key, double fallback) const { return has(key) ? number(key) : fallback; }

bool ConfigReader::flag(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = config_.at(key);
  if (!v.is_boolean()) fail(key, "must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::string ConfigReader::text(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& v = config_.at(key);
  if (!v.is_string()) fail(key, "must be a string, got " + v.dump());
  return v.get<std::string>();
}

}  // namespace oft::models
