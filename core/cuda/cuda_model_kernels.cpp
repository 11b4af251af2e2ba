// LibTorch side of the models' elementwise kernels: what they take, contiguous inputs, results in the inputs'
// dtype, launches on the current stream. The models ask silu_mul_takes / rotary_takes first and take LibTorch's
// operators for anything else (other dtypes, shapes that differ, a GPU older than the built architectures).
#include "cuda_model_kernels.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "launch_support.h"
#include "model_launch.h"

namespace oft::cuda {
namespace {

// Same device, dtype and shape, a dtype the kernels have, a GPU they were built for.
bool fits(const at::Tensor& a, const at::Tensor& b) {
  return a.is_cuda() && b.device() == a.device() && a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() &&
         kernel_dtype(a.scalar_type()) && kernels_run_on(a.device());
}

void require(bool taken, const char* what) {
  if (!taken) throw std::invalid_argument(std::string("liboft_cuda: ") + what + ": tensors the kernel does not take");
}

}  // namespace

// The rotary embedding's rows of x (batch, length, heads, dim) with cos, sin (length, dim) of x's dtype.
bool rotary_takes(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x.is_cuda() && x.dim() == 4 && x.size(3) % 2 == 0 && kernel_dtype(x.scalar_type()) && cos.dim() == 2 &&
         cos.size(0) == x.size(1) && cos.size(1) == x.size(3) && cos.sizes() == sin.sizes() &&
         cos.scalar_type() == x.scalar_type() && sin.scalar_type() == x.scalar_type() && cos.device() == x.device() &&
         sin.device() == x.device() && kernels_run_on(x.device());
}

namespace {

at::Tensor launch_rotary_on(const at::Tensor& v, const at::Tensor& cos, const at::Tensor& sin, bool backward) {
  const c10::cuda::CUDAGuard guard(v.device());
  const at::Tensor values = v.contiguous(), c = cos.contiguous(), s = sin.contiguous();
  at::Tensor out = at::empty_like(values);
  check_launch(
      launch_rotary(element_type(values.scalar_type()), values.data_ptr(), c.data_ptr(), s.data_ptr(), values.numel(),
                    values.size(2), values.size(1), values.size(3), backward, out.data_ptr(), current_stream()),
      backward ? "rotary embedding backward" : "rotary embedding");
  return out;
}

}  // namespace

at::Tensor rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  require(rotary_takes(x, cos, sin), "rotary embedding");
  return launch_rotary_on(x, cos, sin, false);
}

at::Tensor rotary_backward(const at::Tensor& dy, const at::Tensor& cos, const at::Tensor& sin) {
  require(rotary_takes(dy, cos, sin), "rotary embedding backward");
  return launch_rotary_on(dy, cos, sin, true);
}

bool silu_mul_takes(const at::Tensor& gate, const at::Tensor& up) { return fits(gate, up); }

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  require(fits(gate, up), "silu(gate) * up");
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
  require(fits(gate, up) && fits(dy, gate), "silu(gate) * up backward");
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
