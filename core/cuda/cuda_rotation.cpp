// LibTorch side of the CUDA rotation kernels: autograd Functions that check their tensors and launch
// rotation_kernels.cu on the current stream, and the RotationKernels that liboft_cuda registers.
// Shapes the kernels do not cover (blocks larger than 64, fp64, GPUs older than the built architectures)
// take rotation_math's operators.
#include "cuda_rotation.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "launch_support.h"
#include "oft/adapter/rotation_math.h"
#include "rotation_launch.h"

namespace oft::cuda {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// vec (blocks, b(b-1)/2) fp32 contiguous CUDA -> (blocks, b, b) fp32.
class CayleyNeumann : public torch::autograd::Function<CayleyNeumann> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& vec, int64_t block_size, int64_t num_terms) {
    const c10::cuda::CUDAGuard guard(vec.device());
    auto out = at::empty({vec.size(0), block_size, block_size}, vec.options());
    check_launch(launch_neumann_forward(vec.data_ptr<float>(), vec.size(0), static_cast<int>(block_size),
                                        static_cast<int>(num_terms), out.data_ptr<float>(), current_stream()),
                 "Cayley-Neumann forward");
    ctx->save_for_backward({vec});
    ctx->saved_data["block_size"] = block_size;
    ctx->saved_data["num_terms"] = num_terms;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor vec = ctx->get_saved_variables()[0];
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    const int64_t b = ctx->saved_data["block_size"].toInt();
    const c10::cuda::CUDAGuard guard(vec.device());
    const at::Tensor grad = grads[0].to(at::kFloat).contiguous();
    auto scratch = at::empty({vec.size(0), b, b}, vec.options());
    auto grad_vec = at::empty_like(vec);
    check_launch(launch_neumann_backward(vec.data_ptr<float>(), grad.data_ptr<float>(), vec.size(0),
                                         static_cast<int>(b), static_cast<int>(ctx->saved_data["num_terms"].toInt()),
                                         scratch.data_ptr<float>(), grad_vec.data_ptr<float>(), current_stream()),
                 "Cayley-Neumann backward");
    return {grad_vec, at::Tensor(), at::Tensor()};
  }
};

// vec (blocks, b(b-1)/2) fp32 contiguous CUDA -> (blocks, b, b) fp32. The backward needs only the rotation,
// which the Function owns (a fresh output), so COFT's write-back into the adapter cannot make it stale.
class CayleyExact : public torch::autograd::Function<CayleyExact> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& vec, int64_t block_size) {
    const c10::cuda::CUDAGuard guard(vec.device());
    auto out = at::empty({vec.size(0), block_size, block_size}, vec.options());
    check_launch(launch_cayley_forward(vec.data_ptr<float>(), vec.size(0), static_cast<int>(block_size),
                                       out.data_ptr<float>(), current_stream()),
                 "exact Cayley forward");
    ctx->save_for_backward({out});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor rotation = ctx->get_saved_variables()[0];
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    const int64_t b = rotation.size(-1);
    const c10::cuda::CUDAGuard guard(rotation.device());
    const at::Tensor grad = grads[0].to(at::kFloat).contiguous();
    auto grad_vec = at::empty({rotation.size(0), b * (b - 1) / 2}, rotation.options());
    check_launch(launch_cayley_backward(rotation.data_ptr<float>(), grad.data_ptr<float>(), rotation.size(0),
                                        static_cast<int>(b), grad_vec.data_ptr<float>(), current_stream()),
                 "exact Cayley backward");
    return {grad_vec, at::Tensor()};
  }
};

// x (tokens, features) contiguous CUDA in fp32/fp16/bf16, blocks (features / b or 1, b, b) fp32
// contiguous -> x . blockdiag(blocks) in x's dtype.
class RotateRows : public torch::autograd::Function<RotateRows> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& blocks) {
    const c10::cuda::CUDAGuard guard(x.device());
    auto y = at::empty_like(x);
    launch(x, blocks, /*transpose=*/false, y);
    ctx->save_for_backward({x, blocks});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& blocks = saved[1];
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    const c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor dy = grads[0].to(x.scalar_type()).contiguous();
    at::Tensor dx, dblocks;
    if (ctx->needs_input_grad(1) && at::globalContext().deterministicAlgorithms()) {
      // The kernels sum dR over token tiles with atomics, in an order that varies by run; batched GEMMs do not.
      dblocks = math::rotate_rows_blocks_gradient(x, dy, blocks.size(0), blocks.size(-1));
      if (ctx->needs_input_grad(0)) {
        dx = at::empty_like(dy);
        launch(dy, blocks, /*transpose=*/true, dx);
      }
    } else if (ctx->needs_input_grad(1)) {  // dR, and dx from the same pass when it is wanted too
      if (ctx->needs_input_grad(0)) dx = at::empty_like(dy);
      dblocks = at::zeros_like(blocks);
      check_launch(
          launch_rotate_backward(element_type(x.scalar_type()), x.data_ptr(), dy.data_ptr(), blocks.data_ptr<float>(),
                                 x.size(0), static_cast<int>(x.size(1)), static_cast<int>(blocks.size(-1)),
                                 blocks.size(0) == 1, launch_device(x.device()), dx.defined() ? dx.data_ptr() : nullptr,
                                 dblocks.data_ptr<float>(), current_stream()),
          "block rotation backward");
    } else if (ctx->needs_input_grad(0)) {
      dx = at::empty_like(dy);
      launch(dy, blocks, /*transpose=*/true, dx);
    }
    return {dx, dblocks};
  }

 private:
  static void launch(const at::Tensor& x, const at::Tensor& blocks, bool transpose, at::Tensor& y) {
    check_launch(launch_rotate(element_type(x.scalar_type()), x.data_ptr(), blocks.data_ptr<float>(), x.size(0),
                               static_cast<int>(x.size(1)), static_cast<int>(blocks.size(-1)), blocks.size(0) == 1,
                               transpose, launch_device(x.device()), y.data_ptr(), current_stream()),
                 transpose ? "block rotation backward (dx)" : "block rotation");
  }
};

// Whether the Cayley kernels take these skew vectors; otherwise rotation_math computes (and reports bad shapes).
bool skew_vectors_fit_kernels(const at::Tensor& vec, int64_t block_size) {
  return vec.is_cuda() && vec.scalar_type() != at::kDouble && block_size >= 2 && block_size <= kMaxKernelBlockSize &&
         vec.dim() == 2 && vec.size(1) == block_size * (block_size - 1) / 2 && kernels_run_on(vec.device());
}

// Whether the device gives the Cayley-Neumann backward its shared memory at this block size; otherwise the whole
// rotation takes the operators, whose autograd then has a backward.
bool neumann_backward_fits(const at::Device& device, int64_t block_size) {
  return neumann_backward_shared_bytes(static_cast<int>(block_size)) <=
         at::cuda::getDeviceProperties(device.index())->sharedMemPerBlockOptin;
}

}  // namespace

at::Tensor cayley_neumann(const at::Tensor& vec, int64_t block_size, int64_t num_terms) {
  if (num_terms < 2 || !skew_vectors_fit_kernels(vec, block_size) || !neumann_backward_fits(vec.device(), block_size))
    return math::cayley_neumann(math::skew_symmetric(vec, block_size), num_terms);  // and its errors
  // fp32 arithmetic for fp32/fp16/bf16 adapters; autograd carries the casts. Always a copy: the Function
  // saves its input, and COFT writes into the adapter's weight at every use (as PEFT does), which would
  // make a saved parameter stale before the backward.
  const at::Tensor vec_fp32 = vec.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous();
  return CayleyNeumann::apply(vec_fp32, block_size, num_terms).to(vec.scalar_type());
}

at::Tensor cayley_exact(const at::Tensor& vec, int64_t block_size) {
  if (!skew_vectors_fit_kernels(vec, block_size))
    return math::cayley_exact(math::skew_symmetric(vec, block_size));  // and its errors
  // fp32 for fp32/fp16/bf16 adapters, as rotation_math promotes them; autograd carries the casts.
  const at::Tensor vec_fp32 = vec.to(at::kFloat).contiguous();
  return CayleyExact::apply(vec_fp32, block_size).to(vec.scalar_type());
}

at::Tensor rotate_rows(const at::Tensor& x, const at::Tensor& blocks) {
  const int64_t b = blocks.size(-1);
  const int64_t features = x.size(-1);
  const bool fits = x.is_cuda() && blocks.is_cuda() && x.device() == blocks.device() && kernel_dtype(x.scalar_type()) &&
                    kernel_dtype(blocks.scalar_type()) && blocks.dim() == 3 && blocks.size(1) == b && b >= 1 &&
                    b <= kMaxKernelBlockSize && features % b == 0 &&
                    (blocks.size(0) == 1 || blocks.size(0) * b == features) && features <= INT32_MAX &&
                    kernels_run_on(x.device());
  // In x's dtype either way (RotationKernels' contract).
  if (!fits) return math::rotate_rows(x.to(blocks.scalar_type()), blocks).to(x.scalar_type());  // and its errors
  const auto sizes = x.sizes().vec();
  const at::Tensor rows = x.reshape({-1, features}).contiguous();
  return RotateRows::apply(rows, blocks.to(at::kFloat).contiguous()).view(sizes);
}

}  // namespace oft::cuda
