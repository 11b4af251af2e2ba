#include "hf/cached_decoding.h"

#include <string>

#include <ATen/ATen.h>

#include "oft/errors.h"

namespace oft::models::detail {

AttentionMask cached_causal_mask(int64_t past, int64_t length, int64_t window, c10::Device device) {
  const int64_t total = past + length;
  const bool window_covers_all = window <= 0 || total <= window;
  // One new token with every kept key inside the window attends everything: no mask needed.
  if (length == 1 && window_covers_all) return {};
  // SDPA's causal flag aligns queries with the first keys: right only while the cache is empty.
  if (past == 0 && window_covers_all) return {at::Tensor(), /*causal=*/true};
  const auto options = at::TensorOptions().device(device).dtype(at::kLong);
  const auto query = at::arange(past, total, options).view({length, 1});
  const auto key = at::arange(total, options).view({1, total});
  at::Tensor allowed = key <= query;
  if (window > 0) allowed = allowed & (query - key < window);
  return {allowed.view({1, 1, length, total})};
}

std::pair<at::Tensor, at::Tensor> extend_cache(KVCache& cache, size_t layer, const at::Tensor& k, const at::Tensor& v) {
  if (cache.keys.size() <= layer) {
    cache.keys.resize(layer + 1);
    cache.values.resize(layer + 1);
  }
  auto& keys = cache.keys[layer];
  auto& values = cache.values[layer];
  keys = keys.defined() ? at::cat({keys, k}, 2) : k;
  values = values.defined() ? at::cat({values, v}, 2) : v;
  return {keys, values};
}

void check_cached_inputs(const at::Tensor& ids) {
  if (!ids.defined() || ids.dim() != 2 || ids.scalar_type() != at::kLong || ids.size(1) < 1)
    throw UsageError("cached decoding needs input_ids as an int64 tensor (1, tokens) with at least one token");
  if (ids.size(0) != 1)
    throw UsageError("cached decoding runs one sequence (batch 1), got a batch of " + std::to_string(ids.size(0)));
}

}  // namespace oft::models::detail
