#pragma once
// What the causal LM architectures (llama.cpp, gpt2.cpp) give the Decoder of oft/hf/generation.h: a
// forward pass over new tokens that reads and extends a KV cache. Their root modules implement it
// next to torch::nn::Module, so the Decoder finds it on Pretrained::module with a dynamic_cast.
#include <cstddef>
#include <cstdint>
#include <utility>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "hf/layers.h"
#include "oft/hf/generation.h"

namespace oft::models::detail {

class CachedDecoding {
 public:
  virtual ~CachedDecoding() = default;
  // ids (1, T) at positions cache.length.. -> logits (1, T, vocab); cache extended by T.
  virtual at::Tensor forward_cached(const at::Tensor& ids, KVCache& cache) = 0;
};

// Queries at positions past..past+length-1 over keys 0..past+length-1: causal, within the sliding window
// when window > 0. `causal` alone (no mask) where the cache is empty and no window cuts in; nothing at all for one
// new token that sees every key; otherwise a boolean (1, 1, length, past + length) mask.
AttentionMask cached_causal_mask(int64_t past, int64_t length, int64_t window, c10::Device device);

// Appends k and v (1, kv_heads, T, head_dim) to layer `layer` of the cache; returns the layer's keys
// and values so far.
std::pair<at::Tensor, at::Tensor> extend_cache(KVCache& cache, size_t layer, const at::Tensor& k, const at::Tensor& v);

// UsageError unless ids is int64 (1, T) with T >= 1.
void check_cached_inputs(const at::Tensor& ids);

}  // namespace oft::models::detail
