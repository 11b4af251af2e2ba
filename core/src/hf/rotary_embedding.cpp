#include "oft/hf/rotary_embedding.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "oft/device/model_kernels.h"

namespace oft::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// The device's kernels when they take these tensors and no gradient flows to the angles, or nullptr.
const ModelKernels* kernels_for(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const ModelKernels* kernels = model_kernels(x.device().type());
  if (!kernels || !kernels->rotary_takes || cos.requires_grad() || sin.requires_grad()) return nullptr;
  return kernels->rotary_takes(x, cos, sin) ? kernels : nullptr;
}

class RotaryFunction : public torch::autograd::Function<RotaryFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return model_kernels(x.device().type())->rotary(x, cos, sin);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& dy = grads[0];
    return {model_kernels(dy.device().type())->rotary_backward(dy, saved[0], saved[1]), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor rotary_embedding(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (kernels_for(x, cos, sin)) return RotaryFunction::apply(x, cos, sin);
  return x * cos.unsqueeze(1) + rotate_half(x) * sin.unsqueeze(1);
}

}  // namespace oft::models
