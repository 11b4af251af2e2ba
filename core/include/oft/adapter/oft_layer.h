#pragma once
// OFTLayer: what Linear, Conv2d and Embedding OFT layers share: a set of named adapters (each an
// OFTRotation in the "oft_R" or "oft_embedding_R" container, as PEFT names them), which of them are
// active (applied in order: x . R1 . R2), which are merged into the base weight, and merge/unmerge.
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/moduledict.h>

#include "oft/adapter/block_layout.h"
#include "oft/adapter/config.h"
#include "oft/adapter/rotation.h"
#include "oft/export.h"
#include "oft/sdk/base_layer.h"
#include "oft/sdk/tensor_stamp.h"

namespace oft {

// How to merge, for OFT layers and OFTModel alike (PEFT's safe_merge and adapter_names).
struct MergeOptions {
  bool safe_merge = false;                                // check the merged weights are finite before writing any
  std::optional<std::vector<std::string>> adapter_names;  // default: the active adapters
};

class OFT_CORE_API OFTLayer : public torch::nn::Module {
 public:
  // Adds adapter `name` built from `config` (PEFT's update_layer): block layout for this layer,
  // identity or random init, fp32 (or wider) weights on the base layer's device. A new adapter is
  // trainable only if it is active; the first adapter of a layer becomes active. on_meta creates the
  // weight on the meta device (no memory) for loading later.
  void add_adapter(const std::string& name, const OFTConfig& config, bool on_meta = false);
  void delete_adapter(const std::string& name);
  // Gives a meta-device adapter (created with on_meta) real weights: a meta tensor cannot take data
  // in place, so the adapter's rotation module is replaced by one holding `weight`.
  void materialize_adapter(const std::string& name, const at::Tensor& weight);
  bool has_adapter(const std::string& name) const;
  std::vector<std::string> adapter_names() const;
  OFTRotation rotation(const std::string& name) const;
  BlockLayout layout(const std::string& name) const;

  // Active adapters are applied in the given order and are the only trainable ones.
  void set_adapter(const std::vector<std::string>& names);
  const std::vector<std::string>& active_adapters() const { return active_; }

  // Disabled: forward is the base layer alone (merged adapters are unmerged first, as PEFT).
  void enable_adapters(bool enabled);
  bool adapters_enabled() const { return enabled_; }

  // Folds adapters (default: the active ones) into the base weight so that the merged layer
  // computes what the unmerged one did with them applied in order. safe_merge checks the result is
  // finite before writing it. Already merged adapters are skipped with a warning.
  void merge(const MergeOptions& options = {});
  // Undoes merges, last merged first, with exact (block-wise) inverses.
  void unmerge();
  bool merged() const { return !merged_.empty(); }
  const std::vector<std::string>& merged_adapters() const { return merged_; }

  // The merge policy of the base layer (dense layers: Exact).
  virtual sdk::MergePolicy merge_policy() const { return {}; }
  // Size of the rotated dimension d.
  virtual int64_t rotated_features() const = 0;
  // The wrapped layer's own module (what merge_and_unload puts back).
  virtual std::shared_ptr<torch::nn::Module> base_module() const = 0;
  // "oft_R" or "oft_embedding_R": the container name in parameter and file keys.
  const std::string& container_name() const { return container_name_; }
  // Label used in messages (module type and shape, or the module's path once set by OFTModel).
  void set_label(std::string label) { layer_label_ = std::move(label); }

  // The eval weight cache: an eval forward that needs no gradient computes with the base weight with the pending
  // adapters folded in (W . R^T, folded in fp32, kept in the base dtype), so it costs one base GEMM. It is rebuilt
  // when an adapter weight, the active or merged adapters, enable/disable, train/eval or the base weight change.
  // Dense bases only (quantized ones keep rotating the input). Costs one extra copy of the weight; on by default.
  void set_eval_weight_cache(bool enabled);
  bool eval_weight_cache() const { return eval_cache_enabled_; }
  // torch::nn::Module::train, which reaches every layer; entering training frees the cached weight.
  void train(bool on = true) override;

 protected:
  explicit OFTLayer(const std::string& container_name);

  // The base weight as a (rows, d) matrix whose last dimension is rotated, and its write-back.
  virtual at::Tensor weight_matrix() = 0;
  virtual void set_weight_matrix(const at::Tensor& weight) = 0;
  // The base weight tensor whose changes invalidate the eval cache: the parameter itself or a view of it, since
  // weight_matrix() may be a copy (Conv2d's reshape of a non-contiguous weight) with a version counter of its own.
  virtual at::Tensor weight_source() { return weight_matrix(); }
  virtual c10::Device base_device() const = 0;
  virtual c10::ScalarType base_dtype() const = 0;
  // Embedding rotates its output (E . R); Linear and Conv2d rotate their input (W . R^T).
  virtual bool rotates_output() const { return false; }

  // Active adapters that are not merged, in application order.
  std::vector<std::string> pending_adapters() const;
  // x . R_a1 . R_a2 ... over the pending adapters, in the adapters' dtype, cast back to x's dtype.
  at::Tensor rotate(const at::Tensor& x);
  // Called by forward when adapters are disabled: unmerge first so the base weight is the original.
  void prepare_disabled_forward();
  // weight (rows, d) with the pending adapters folded in, W . R_n^T ... R_1^T (so x . R_1 ... R_n . W^T ==
  // x . result^T), in at least fp32, returned in weight's dtype; differentiable, with dropout in training.
  at::Tensor fold_pending(const at::Tensor& weight);
  // The cached fold_pending(weight_matrix()) for a forward of x, or an undefined tensor when the cache does not
  // apply: turned off, training, a gradient needed, no pending adapter, a base that is not dense or inference tensors
  // (made under c10::InferenceMode: no version counter to key the cache on). Safe for concurrent eval forwards.
  at::Tensor eval_folded_weight(const at::Tensor& x);
  // Whether the base weight is dense (cheap to read and fold); quantized bases say no.
  virtual bool dense_weight_base() const { return true; }

  std::string layer_label_;  // for messages; set by subclasses (module type and shape)

 private:
  void refresh_trainable();
  at::Tensor rotated_weight(const at::Tensor& weight, const at::Tensor& blocks, bool inverse) const;

  std::string container_name_;
  torch::nn::ModuleDict rotations_;
  std::map<std::string, BlockLayout> layouts_;
  std::vector<std::string> active_;
  std::vector<std::string> merged_;
  bool enabled_ = true;

  void drop_eval_cache();
  bool eval_cache_enabled_ = true;
  // Concurrent eval forwards (serving) share the cache: check and rebuild under the lock.
  std::mutex eval_cache_mutex_;
  at::Tensor folded_weight_;
  std::vector<std::string> folded_adapters_;
  // What it was computed from: weight_source(), then each folded adapter's weight (views such as a transposed
  // Conv1D weight share storage, data and version with their tensor).
  std::vector<sdk::TensorStamp> folded_sources_;
};

}  // namespace oft
