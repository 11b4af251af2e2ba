#pragma once
// Text generation with the causal LMs of load_pretrained (GPT-2, LLaMA, Mistral, Qwen2), as
// transformers' generate() does it for one sequence (batch 1):
//   Decoder   prefill with the prompt, then one token per step; each layer's keys and values
//             (1, kv_heads, T, head_dim) are kept and appended to, so a step costs O(context)
//             instead of a full re-run. Positions continue from the cache (RoPE angles, GPT-2's wpe);
//             Mistral's sliding window is applied as a mask over the kept keys.
//   generate  greedy (do_sample=False) or sampling with transformers' warpers in its order
//             (temperature, top-k, top-p) from a seeded generator; stops at an EOS id or after
//             max_new_tokens.
// The model runs through its LayerSlots, so OFT adapters injected by OFTModel take part; it runs in the
// mode it is in, so put it in eval() first (no adapter dropout), as `oft generate` does.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "oft/export.h"
#include "oft/hf/pretrained.h"

namespace oft::models {

// Keys and values of every decoder layer for the tokens seen so far, (1, kv_heads, length, head_dim).
struct KVCache {
  std::vector<at::Tensor> keys, values;
  int64_t length = 0;
};

class OFT_CORE_API Decoder {
 public:
  // UsageError for a model without incremental decoding (BERT, or a module not built by load_pretrained).
  explicit Decoder(const Pretrained& model);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Runs ids (1, T) int64 at positions length()..length()+T-1 against the cache, appends their keys
  // and values, and returns their logits (1, T, vocab). The first call is the prefill. UsageError for
  // a batch other than 1 or past the model's position limit (GPT-2's n_positions).
  at::Tensor append(const at::Tensor& ids);
  int64_t length() const;
  const KVCache& cache() const;
  void reset();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct SamplingOptions {
  bool greedy = true;  // argmax (do_sample=False); the fields below only apply when false
  double temperature = 1.0;
  int64_t top_k = 0;   // 0: off
  double top_p = 1.0;  // 1: off
  uint64_t seed = 0;
};

// transformers' TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper in that order on
// float32 logits (..., vocab): removed tokens become -inf; at least one token is always kept.
// UsageError for temperature <= 0, top_k < 0, top_p outside (0, 1].
OFT_CORE_API at::Tensor warp_logits(const at::Tensor& logits, const SamplingOptions& options);

struct GenerationOptions {
  int64_t max_new_tokens = 20;
  SamplingOptions sampling;
  std::vector<int64_t> eos_token_ids;  // stop after generating any of them (it is returned)
  bool use_cache = true;               // false: re-run the whole sequence each step (for comparison)
};

// The new tokens after `prompt` (not empty). on_token is called with each as it is chosen.
OFT_CORE_API std::vector<int64_t> generate(const Pretrained& model, const std::vector<int64_t>& prompt,
                                           const GenerationOptions& options,
                                           const std::function<void(int64_t)>& on_token = {});

// eos_token_id (an integer or a list) of the folder's generation_config.json, else of config.json;
// empty when neither names one. FormatError naming the file and key for any other value.
OFT_CORE_API std::vector<int64_t> eos_token_ids(const std::filesystem::path& model_dir);

}  // namespace oft::models
