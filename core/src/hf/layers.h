#pragma once
// Building blocks of the model architectures (core/src/models/): norms, embeddings and GPT-2's Conv1D
// that can be created on any device (meta: no storage at all, for planning and scale tests), the
// attention masks and attention transformers uses, activations, and config.json access with errors
// that name the key.
#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include "oft/export.h"
#include "oft/nn/conv1d.h"
#include "oft/nn/linear.h"

namespace oft::models {

// nn.LayerNorm(dim, eps) with weight and bias, created on `device` (ones / zeros on real devices).
class OFT_CORE_API LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, c10::Device device);
  at::Tensor forward(const at::Tensor& x);
  double eps;
  at::Tensor weight, bias;
};
TORCH_MODULE(LayerNorm);

// LLaMA's RMSNorm: x / sqrt(mean(x^2) + eps) computed in float32, cast back, then scaled by weight
// (models::rms_norm, whose backward keeps x and one float per row).
class OFT_CORE_API RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, c10::Device device);
  at::Tensor forward(const at::Tensor& x);
  double eps;
  at::Tensor weight;
};
TORCH_MODULE(RMSNorm);

// torch::nn::Embedding whose weight is created on `device` (Normal(0, 0.02) on real devices, padding
// row zero), or is `shared` (tied weights: the very same tensor, so loading one loads both).
OFT_CORE_API torch::nn::Embedding make_embedding(int64_t count, int64_t dim, c10::Device device,
                                                 std::optional<int64_t> padding_idx = std::nullopt,
                                                 at::Tensor shared = {});
OFT_CORE_API oft::Linear make_linear(int64_t in, int64_t out, bool bias, c10::Device device);
// transformers' Conv1D (weight (in, out)) created on `device`.
OFT_CORE_API oft::Conv1D make_conv1d(int64_t in, int64_t out, c10::Device device);

// Which keys each query attends. `allowed`: a boolean (B or 1, 1, T, S) mask, true where query t may attend
// key s. Where such a mask would say no more than "causal" (s <= t over keys at the queries' positions), it is
// left undefined and `causal` set instead, so that scaled_dot_product_attention takes its fused causal kernels
// (FlashAttention on GPUs) rather than reading a mask, as transformers' sdpa attention does. Neither: every key.
struct AttentionMask {
  at::Tensor allowed;
  bool causal = false;
};

// For T queries over the same T keys: causal (s <= t) when asked, within the sliding window (t - s < window,
// when window > 0), and keys whose attention_mask (B, T) is 1. Rows with nothing to attend (left padding)
// attend everything, as transformers does, so they stay finite.
OFT_CORE_API AttentionMask attention_mask_4d(const at::Tensor& attention_mask, int64_t batch, int64_t length,
                                             bool causal, int64_t window, c10::Device device);

// Scaled dot-product attention for q (B, H, T, D) and k, v (B, KV, S, D) with H a multiple of KV
// (grouped-query attention: each key/value head serves H / KV query heads). Returns (B, T, H * D).
OFT_CORE_API at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const AttentionMask& mask, double scale);

// transformers' ACT2FN by name: gelu (exact), gelu_new / gelu_pytorch_tanh (tanh), relu, silu / swish.
// FormatError naming the activation otherwise.
OFT_CORE_API at::Tensor activation(const std::string& name, const at::Tensor& x);
OFT_CORE_API void check_activation(const std::string& name, const std::string& model_type);

// Checks input_ids (int64 (B, T), T <= max_length when max_length > 0) and attention_mask (undefined
// or (B, T)); UsageError naming what was wrong.
OFT_CORE_API void check_inputs(const at::Tensor& input_ids, const at::Tensor& attention_mask, int64_t max_length);

// config.json access: FormatError "config.json of a <model_type> model: key 'k' ..." when a required
// key is missing (or null) or has the wrong type.
class OFT_CORE_API ConfigReader {
 public:
  ConfigReader(const nlohmann::json& config, std::string model_type);
  int64_t integer(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t fallback) const;
  // A size or count: an integer >= 1.
  int64_t positive(const std::string& key) const;
  int64_t positive(const std::string& key, int64_t fallback) const;
  double number(const std::string& key) const;
  double number(const std::string& key, double fallback) const;
  bool flag(const std::string& key, bool fallback) const;
  std::string text(const std::string& key, const std::string& fallback) const;
  bool has(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

 private:
  const nlohmann::json& config_;
  std::string model_type_;
};

}  // namespace oft::models
