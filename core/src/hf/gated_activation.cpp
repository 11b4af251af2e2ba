#include "oft/hf/gated_activation.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "hf/layers.h"
#include "oft/device/model_kernels.h"

namespace oft::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// d activation(name, x) / dx applied to grad, by the operator autograd itself uses for that activation.
at::Tensor activation_backward(const std::string& name, const at::Tensor& grad, const at::Tensor& x) {
  if (name == "gelu") return at::gelu_backward(grad, x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return at::gelu_backward(grad, x, "tanh");
  if (name == "relu") return at::threshold_backward(grad, x, 0);
  return at::silu_backward(grad, x);  // silu, swish: models::activation has rejected every other name
}

// The device's fused silu(gate) * up kernels (liboft_cuda's on CUDA) when they take gate and up, or nullptr: the
// operators one by one.
const ModelKernels* fused_silu(const std::string& name, const at::Tensor& gate, const at::Tensor& up) {
  if (name != "silu" && name != "swish") return nullptr;
  const ModelKernels* kernels = model_kernels(gate.device().type());
  return kernels && kernels->silu_mul_takes && kernels->silu_mul_takes(gate, up) ? kernels : nullptr;
}

class GatedActivationFunction : public torch::autograd::Function<GatedActivationFunction> {
 public:
  // The name last: needs_input_grad counts tensor inputs only.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up,
                            const std::string& name) {
    ctx->saved_data["activation"] = name;
    ctx->save_for_backward({gate, up});
    if (const auto* kernels = fused_silu(name, gate, up)) return kernels->silu_mul(gate, up);
    return activation(name, gate) * up;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &gate = saved[0], &up = saved[1];
    const std::string name = ctx->saved_data["activation"].toStringRef();
    const at::Tensor& dy = grads[0];
    if (const auto* kernels = fused_silu(name, gate, up)) {
      auto [dgate, dup] = kernels->silu_mul_backward(dy, gate, up, ctx->needs_input_grad(0), ctx->needs_input_grad(1));
      return {dgate, dup, at::Tensor()};
    }
    at::Tensor dgate, dup;
    if (ctx->needs_input_grad(0)) dgate = activation_backward(name, (dy * up).to(gate.scalar_type()), gate);
    if (ctx->needs_input_grad(1)) dup = (dy * activation(name, gate)).to(up.scalar_type());
    return {dgate, dup, at::Tensor()};
  }
};

}  // namespace

at::Tensor gated_activation(const std::string& name, const at::Tensor& gate, const at::Tensor& up) {
  return GatedActivationFunction::apply(gate, up, name);
}

}  // namespace oft::models
