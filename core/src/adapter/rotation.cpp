#include "oft/adapter/rotation.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/cpu_cayley_neumann.h"
#include "oft/adapter/cpu_rotation.h"
#include "oft/adapter/rotation_math.h"
#include "oft/device/rotation_kernels.h"

namespace oft {

OFTRotationImpl::OFTRotationImpl(const RotationSpec& spec, const at::TensorOptions& options) : spec_(spec) {
  weight = register_parameter("weight", at::zeros({spec_.stored_blocks(), spec_.vector_length()}, options));
}

void OFTRotationImpl::reset(bool identity) {
  torch::NoGradGuard no_grad;
  if (weight.is_meta()) return;  // materialized later by loading
  if (identity)
    weight.zero_();
  else
    weight.normal_(0.0, 0.1);
}

bool OFTRotationImpl::cache_valid() const {
  // Blocks made under InferenceMode are inference tensors, which a backward outside it cannot save (an input that
  // needs a gradient through a frozen adapter): rebuilt there as a normal tensor, usable in both modes.
  if (cached_blocks_.is_inference() && !c10::InferenceMode::is_enabled()) return false;
  return cached_stamp_ && cached_stamp_->matches(weight);
}

at::Tensor OFTRotationImpl::compute_blocks() {
  if (spec_.coft) {
    // PEFT writes the projected values back into the parameter at every use.
    torch::NoGradGuard no_grad;
    weight.copy_(math::coft_project(weight, spec_.block_size, spec_.eps));
  }
  // A device library's fused kernel (liboft_cuda on CUDA) when one is registered for the weight's device.
  if (const RotationKernels* kernels = rotation_kernels(weight.device().type()); kernels != nullptr) {
    if (spec_.use_cayley_neumann && kernels->cayley_neumann != nullptr)
      return kernels->cayley_neumann(weight, spec_.block_size, spec_.num_cayley_neumann_terms);
    if (!spec_.use_cayley_neumann && kernels->cayley_exact != nullptr)
      return kernels->cayley_exact(weight, spec_.block_size);
  }
  // On the CPU, the series as one autograd node (cpu_cayley_neumann.h).
  if (spec_.use_cayley_neumann && cpu_cayley_neumann_fits(weight, spec_.block_size, spec_.num_cayley_neumann_terms))
    return cpu_cayley_neumann(weight, spec_.block_size, spec_.num_cayley_neumann_terms);
  auto q = math::skew_symmetric(weight, spec_.block_size);
  return spec_.use_cayley_neumann ? math::cayley_neumann(q, spec_.num_cayley_neumann_terms) : math::cayley_exact(q);
}

at::Tensor OFTRotationImpl::blocks() {
  const bool needs_graph = torch::GradMode::is_enabled() && weight.requires_grad();
  if (needs_graph) return compute_blocks();
  torch::NoGradGuard no_grad;
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (!sdk::TensorStamp::trackable(weight)) return compute_blocks();
  if (!cache_valid()) {
    cached_blocks_ = compute_blocks();
    cached_stamp_.emplace(weight);  // after the COFT write-back
  }
  return cached_blocks_;
}

at::Tensor OFTRotationImpl::effective_blocks() {
  return is_training() ? math::multiplicative_dropout(blocks(), spec_.dropout) : blocks();
}

at::Tensor OFTRotationImpl::forward(const at::Tensor& x) {
  // A device kernel reads x in its own dtype (no fp32 copy), computes in fp32 and returns x's dtype.
  if (const RotationKernels* kernels = rotation_kernels(x.device().type());
      kernels != nullptr && kernels->rotate_rows != nullptr)
    return kernels->rotate_rows(x, effective_blocks());
  const at::Tensor blocks = effective_blocks();
  // On the CPU, one pass over x each way where the CPU and dtypes allow; in x's dtype, as a device kernel.
  if (cpu_rotation_fits(x, blocks)) return cpu_rotate_rows(x, blocks);
  return math::rotate_rows(x.to(weight.scalar_type()), blocks);
}

at::Tensor OFTRotationImpl::dense() {
  auto b = blocks();
  if (spec_.block_share) b = b.expand({spec_.num_blocks(), spec_.block_size, spec_.block_size});
  return math::block_diagonal(b);
}

}  // namespace oft
