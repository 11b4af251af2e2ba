#include "oft/adapter/oft_layer.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/rotation_math.h"
#include "oft/errors.h"
#include "oft/log.h"

namespace oft {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// PEFT upcasts half-precision adapters to fp32 (autocast_adapter_dtype); fp64 stays fp64.
c10::ScalarType adapter_dtype_for(c10::ScalarType base) { return at::promote_types(base, at::kFloat); }

}  // namespace

OFTLayer::OFTLayer(const std::string& container_name) : container_name_(container_name) {
  rotations_ = register_module(container_name, torch::nn::ModuleDict());
}

void OFTLayer::add_adapter(const std::string& name, const OFTConfig& config, bool on_meta) {
  if (name.empty()) throw UsageError("adapter name must not be empty");
  if (has_adapter(name)) throw UsageError("adapter '" + name + "' already exists on " + layer_label_);
  const int64_t d = rotated_features();
  const BlockLayout layout = resolve_block_layout(d, config.r, config.oft_block_size, layer_label_);
  RotationSpec spec;
  spec.features = d;
  spec.block_size = layout.block_size;
  spec.block_share = config.block_share;
  spec.coft = config.coft;
  spec.eps = config.eps;
  spec.use_cayley_neumann = config.use_cayley_neumann;
  spec.num_cayley_neumann_terms = config.num_cayley_neumann_terms;
  spec.dropout = config.module_dropout;

  const c10::Device device = on_meta ? c10::Device(c10::kMeta) : base_device();
  OFTRotation rotation(spec, at::TensorOptions().device(device).dtype(adapter_dtype_for(base_dtype())));
  rotation->reset(config.init_weights);
  rotation->train(is_training());
  rotations_->update({{name, rotation.ptr()}});
  layouts_[name] = layout;
  if (active_.empty()) active_.push_back(name);
  refresh_trainable();
  drop_eval_cache();
}

void OFTLayer::delete_adapter(const std::string& name) {
  if (!has_adapter(name)) throw UsageError("no adapter '" + name + "' on " + layer_label_);
  if (contains(merged_, name))
    throw UsageError("adapter '" + name + "' is merged into " + layer_label_ + "; unmerge it before deleting it");
  rotations_->pop(name);
  rotations_->unregister_module(name);
  layouts_.erase(name);
  active_.erase(std::remove(active_.begin(), active_.end(), name), active_.end());
  drop_eval_cache();
}

void OFTLayer::materialize_adapter(const std::string& name, const at::Tensor& weight) {
  OFTRotation old = rotation(name);
  if (weight.sizes() != old->weight.sizes())
    throw UsageError("adapter '" + name + "' on " + layer_label_ + " needs weight shape " +
                     c10::str(old->weight.sizes()) + ", got " + c10::str(weight.sizes()));
  OFTRotation fresh(old->spec(), at::TensorOptions().device(base_device()).dtype(old->weight.scalar_type()));
  {
    torch::NoGradGuard no_grad;
    fresh->weight.copy_(weight);
  }
  fresh->weight.set_requires_grad(old->weight.requires_grad());
  fresh->train(old->is_training());
  rotations_->update({{name, fresh.ptr()}});
  drop_eval_cache();
}

bool OFTLayer::has_adapter(const std::string& name) const { return rotations_->contains(name); }

std::vector<std::string> OFTLayer::adapter_names() const { return rotations_->keys(); }

OFTRotation OFTLayer::rotation(const std::string& name) const {
  if (!has_adapter(name)) throw UsageError("no adapter '" + name + "' on " + layer_label_);
  return OFTRotation(std::dynamic_pointer_cast<OFTRotationImpl>(rotations_.ptr()->operator[](name)));
}

BlockLayout OFTLayer::layout(const std::string& name) const {
  auto it = layouts_.find(name);
  if (it == layouts_.end()) throw UsageError("no adapter '" + name + "' on " + layer_label_);
  return it->second;
}

void OFTLayer::set_adapter(const std::vector<std::string>& names) {
  active_ = names;
  refresh_trainable();
  drop_eval_cache();
}

void OFTLayer::enable_adapters(bool enabled) {
  enabled_ = enabled;
  drop_eval_cache();
}

void OFTLayer::set_eval_weight_cache(bool enabled) {
  eval_cache_enabled_ = enabled;
  drop_eval_cache();
}

void OFTLayer::train(bool on) {
  torch::nn::Module::train(on);
  drop_eval_cache();
}

void OFTLayer::drop_eval_cache() {
  std::lock_guard<std::mutex> lock(eval_cache_mutex_);
  folded_weight_ = at::Tensor();
  folded_adapters_.clear();
  folded_sources_.clear();
}

void OFTLayer::refresh_trainable() {
  for (const auto& [name, module] : rotations_->items())
    for (auto& p : module->parameters()) p.set_requires_grad(contains(active_, name));
}

std::vector<std::string> OFTLayer::pending_adapters() const {
  std::vector<std::string> pending;
  for (const auto& name : active_)
    if (has_adapter(name) && !contains(merged_, name)) pending.push_back(name);
  return pending;
}

at::Tensor OFTLayer::rotate(const at::Tensor& x) {
  const auto pending = pending_adapters();
  // Several adapters chain in fp32 and round once, as rotation_math (fp32 adapters) and PEFT do: a device
  // kernel returns its input's dtype, so a 16-bit x would otherwise be rounded between them.
  at::Tensor h = pending.size() > 1 ? x.to(at::promote_types(x.scalar_type(), at::kFloat)) : x;
  for (const auto& name : pending) h = rotation(name)->forward(h);
  return h.to(x.scalar_type());
}

void OFTLayer::prepare_disabled_forward() {
  if (merged()) unmerge();
}

at::Tensor OFTLayer::fold_pending(const at::Tensor& weight) {
  auto pending = pending_adapters();
  // x . R1 . R2 . W^T == x . (W . R2^T . R1^T)^T: fold the last-applied adapter first.
  std::reverse(pending.begin(), pending.end());
  const auto work = at::promote_types(weight.scalar_type(), at::kFloat);
  at::Tensor folded = weight.to(work);
  for (const auto& name : pending)
    folded = math::rotate_rows(folded, rotation(name)->effective_blocks().to(work).transpose(-2, -1));
  return folded.to(weight.scalar_type());
}

at::Tensor OFTLayer::eval_folded_weight(const at::Tensor& x) {
  if (!eval_cache_enabled_ || is_training() || !dense_weight_base()) return {};
  const auto pending = pending_adapters();
  if (pending.empty()) return {};
  std::vector<at::Tensor> sources{weight_source()};
  for (const auto& name : pending) sources.push_back(rotation(name)->weight);
  if (torch::GradMode::is_enabled()) {
    bool needs_graph = x.requires_grad();
    for (const auto& t : sources) needs_graph = needs_graph || t.requires_grad();
    if (needs_graph) return {};
  }
  if (!std::all_of(sources.begin(), sources.end(), sdk::TensorStamp::trackable)) return {};

  std::lock_guard<std::mutex> lock(eval_cache_mutex_);
  if (folded_weight_.defined() && folded_adapters_ == pending &&
      std::equal(folded_sources_.begin(), folded_sources_.end(), sources.begin(), sources.end(),
                 [](const sdk::TensorStamp& stamp, const at::Tensor& t) { return stamp.matches(t); }))
    return folded_weight_;
  folded_weight_ = at::Tensor();  // the old copy goes before the new one is made
  torch::NoGradGuard no_grad;
  folded_weight_ = fold_pending(weight_matrix());
  folded_adapters_ = pending;
  folded_sources_.clear();
  // Stamped after the fold: COFT writes back into the adapter weights.
  for (const auto& t : sources) folded_sources_.emplace_back(t);
  return folded_weight_;
}

at::Tensor OFTLayer::rotated_weight(const at::Tensor& weight, const at::Tensor& blocks, bool inverse) const {
  const auto work = at::promote_types(at::promote_types(weight.scalar_type(), blocks.scalar_type()), at::kFloat);
  at::Tensor m = blocks.to(work);
  if (inverse) m = at::linalg_inv(m);  // block-wise: b x b inverses, not one d x d
  // Output side (Embedding): E . R. Input side (Linear, Conv2d): W . R^T.
  if (!rotates_output()) m = m.transpose(-2, -1);
  return math::rotate_rows(weight.to(work), m).to(weight.scalar_type());
}

void OFTLayer::merge(const MergeOptions& options) {
  const bool safe_merge = options.safe_merge;
  std::vector<std::string> requested = options.adapter_names.value_or(active_);
  std::vector<std::string> to_merge;
  for (const auto& name : requested) {
    if (!has_adapter(name)) continue;  // as PEFT: adapters that live on other layers are skipped
    if (contains(merged_, name)) {
      logger()->warn("Adapter '{}' is already merged into {}; skipping it.", name, layer_label_);
      continue;
    }
    to_merge.push_back(name);
  }
  if (to_merge.empty()) return;

  const sdk::MergePolicy policy = merge_policy();
  if (policy.mode == sdk::MergeMode::Refused)
    throw UsageError("cannot merge into " + layer_label_ + ": " + policy.reason);
  if (policy.mode == sdk::MergeMode::Requantize)
    logger()->warn("Merging into {} requantizes its weight: {}", layer_label_, policy.reason);

  // The merged weight must compute x . R1 . R2 . W^T: fold the last-applied adapter first on the
  // input side (W . R2^T . R1^T); the output side (E . R1 . R2) folds in application order.
  if (!rotates_output()) std::reverse(to_merge.begin(), to_merge.end());

  // All rotations are applied to a copy and written once: a failed safe_merge changes nothing, and
  // a quantized base is requantized once.
  torch::NoGradGuard no_grad;
  at::Tensor weight = weight_matrix();
  for (const auto& name : to_merge) {
    weight = rotated_weight(weight, rotation(name)->blocks(), /*inverse=*/false);
    if (safe_merge && !at::isfinite(weight).all().item<bool>())
      throw UsageError("NaNs detected in the merged weights. The adapter " + name + " seems to be broken (" +
                       layer_label_ + "); the base weight was left unchanged");
  }
  set_weight_matrix(weight);
  merged_.insert(merged_.end(), to_merge.begin(), to_merge.end());
  drop_eval_cache();
}

void OFTLayer::unmerge() {
  if (merged_.empty()) {
    logger()->warn("Already unmerged. Nothing to do. ({})", layer_label_);
    return;
  }
  // Undo on a copy, last merged first; the record changes only once the weight is written.
  torch::NoGradGuard no_grad;
  at::Tensor weight = weight_matrix();
  for (auto it = merged_.rbegin(); it != merged_.rend(); ++it)
    weight = rotated_weight(weight, rotation(*it)->blocks(), /*inverse=*/true);
  set_weight_matrix(weight);
  merged_.clear();
  drop_eval_cache();
}

}  // namespace oft
