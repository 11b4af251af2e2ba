// LibTorch side of the gated MLP product's kernels: checks, contiguous inputs, results in the inputs' dtype,
// launches on the current stream. Inputs the kernels do not take (other dtypes, shapes that differ, a GPU older
// than the built architectures) take LibTorch's operators.
#include "cuda_gated.h"

#include <ATen/ATen.h>

#include "gated_launch.h"
#include "launch_support.h"

namespace oft::cuda {
namespace {

bool fits(const at::Tensor& a, const at::Tensor& b) {
  return a.is_cuda() && b.device() == a.device() && a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() &&
         kernel_dtype(a.scalar_type()) && kernels_run_on(a.device());
}

}  // namespace

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  if (!fits(gate, up)) return at::silu(gate) * up;
  const c10::cuda::CUDAGuard guard(gate.device());
  const at::Tensor g = gate.contiguous(), u = up.contiguous();
  at::Tensor out = at::empty_like(g);
  check_launch(launch_silu_mul(element_type(g.scalar_type()), g.data_ptr(), u.data_ptr(), g.numel(), out.data_ptr(),
                               current_stream()),
               "silu(gate) * up");
  return out;
}

std::tuple<at::Tensor, at::Tensor> silu_mul_backward(const at::Tensor& dy, const at::Tensor& gate, const at::Tensor& up,
                                                     bool want_gate, bool want_up) {
  if (!fits(gate, up) || !fits(dy, gate)) {
    at::Tensor dgate, dup;
    if (want_gate) dgate = at::silu_backward((dy * up).to(gate.scalar_type()), gate);
    if (want_up) dup = (dy * at::silu(gate)).to(up.scalar_type());
    return {dgate, dup};
  }
  const c10::cuda::CUDAGuard guard(gate.device());
  const at::Tensor d = dy.contiguous(), g = gate.contiguous(), u = up.contiguous();
  at::Tensor dgate = want_gate ? at::empty_like(g) : at::Tensor();
  at::Tensor dup = want_up ? at::empty_like(u) : at::Tensor();
  check_launch(launch_silu_mul_backward(element_type(g.scalar_type()), d.data_ptr(), g.data_ptr(), u.data_ptr(),
                                        g.numel(), want_gate ? dgate.data_ptr() : nullptr,
                                        want_up ? dup.data_ptr() : nullptr, current_stream()),
               "silu(gate) * up backward");
  return {dgate, dup};
}

}  // namespace oft::cuda
