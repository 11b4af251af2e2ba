#include "oft/adapter/cpu_cayley_neumann.h"

#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/neumann_series.h"
#include "oft/adapter/rotation_math.h"

namespace oft {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Blocks per parallel task when the skew matrices are filled or read back (each block is b^2 floats).
constexpr int64_t kBlocksPerTask = 8;

// (blocks, b, b) skew-symmetric Q from (blocks, b(b-1)/2) vectors in PEFT's order (the upper triangle row by row),
// as math::skew_symmetric, in one pass.
at::Tensor skew_matrices(const at::Tensor& vec, int64_t b) {
  const int64_t count = vec.size(0), length = vec.size(1);
  at::Tensor q = at::empty({count, b, b}, vec.options());
  const float* values = vec.const_data_ptr<float>();
  float* matrices = q.mutable_data_ptr<float>();
  at::parallel_for(0, count, kBlocksPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      const float* v = values + block * length;
      float* m = matrices + block * b * b;
      for (int64_t i = 0; i < b; ++i) {
        m[i * b + i] = 0.0f;
        for (int64_t j = i + 1; j < b; ++j, ++v) {
          m[i * b + j] = *v;
          m[j * b + i] = -*v;
        }
      }
    }
  });
  return q;
}

// The gradient of the skew vectors from that of Q: dQ[i][j] - dQ[j][i] for each upper pair, in one pass.
at::Tensor skew_vector_gradients(const at::Tensor& dq) {
  const int64_t count = dq.size(0), b = dq.size(-1), length = b * (b - 1) / 2;
  at::Tensor dvec = at::empty({count, length}, dq.options());
  const float* matrices = dq.const_data_ptr<float>();
  float* values = dvec.mutable_data_ptr<float>();
  at::parallel_for(0, count, kBlocksPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      const float* m = matrices + block * b * b;
      float* v = values + block * length;
      for (int64_t i = 0; i < b; ++i)
        for (int64_t j = i + 1; j < b; ++j, ++v) *v = m[i * b + j] - m[j * b + i];
    }
  });
  return dvec;
}

// R = sum_k c_k Q^k up to the highest power K (neumann_series.h). Its gradient, with P_k = Q^k and G = dR:
// D_K = c_K G, then for k = K-1 down to 1 dQ += P_k^T D_{k+1} and D_k = c_k G + D_{k+1} Q^T, and finally
// dQ += D_1 (P_1 is Q itself). Out-of-place operators only, so that the same code builds a graph when the
// backward is differentiated again.
at::Tensor series_gradient(const at::Tensor& q, const at::Tensor& g, int num_terms) {
  const int highest = neumann::highest_power(num_terms);
  if (highest == 1) return g * neumann::coefficient(1, num_terms);
  std::vector<at::Tensor> powers{q};  // P_1 .. P_{K-1}
  for (int k = 2; k <= highest - 1; ++k) powers.push_back(at::bmm(powers.back(), q));
  const at::Tensor qt = q.transpose(-2, -1);
  at::Tensor d = g * neumann::coefficient(highest, num_terms);
  at::Tensor dq;
  for (int k = highest - 1; k >= 1; --k) {
    const at::Tensor pt = powers[k - 1].transpose(-2, -1);
    dq = dq.defined() ? at::baddbmm(dq, pt, d) : at::bmm(pt, d);
    d = at::baddbmm(g, d, qt, /*beta=*/neumann::coefficient(k, num_terms));
  }
  return dq + d;
}

class CpuCayleyNeumann : public torch::autograd::Function<CpuCayleyNeumann> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& vec, int64_t b, int64_t num_terms) {
    const int terms = static_cast<int>(num_terms);
    const at::Tensor q = skew_matrices(vec, b);
    at::Tensor r = q * neumann::coefficient(1, terms);
    r.diagonal(0, -2, -1).add_(neumann::coefficient(0, terms));
    at::Tensor power = q;
    for (int k = 2; k <= neumann::highest_power(terms); ++k) {
      power = at::bmm(power, q);
      r.add_(power, neumann::coefficient(k, terms));
    }
    // Q for the backward rather than vec: COFT rewrites vec in place at every use, which must not invalidate a
    // pending backward (LibTorch's operators save Q too). vec itself, and its version, only for a backward that is
    // differentiated again.
    ctx->save_for_backward({q});
    ctx->saved_data["vec"] = vec;
    // Inference tensors (eval under InferenceMode) keep no version, and no graph is built from them.
    ctx->saved_data["vec_version"] = vec.is_inference() ? int64_t{-1} : static_cast<int64_t>(vec._version());
    ctx->saved_data["block_size"] = b;
    ctx->saved_data["num_terms"] = num_terms;
    return r;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    const int64_t b = ctx->saved_data["block_size"].toInt();
    const int num_terms = static_cast<int>(ctx->saved_data["num_terms"].toInt());
    const at::Tensor g = grads[0].to(at::kFloat);
    if (torch::GradMode::is_enabled()) {
      const at::Tensor vec = ctx->saved_data["vec"].toTensor();
      const int64_t version = ctx->saved_data["vec_version"].toInt();
      TORCH_CHECK(version < 0 || static_cast<int64_t>(vec._version()) == version,
                  "the OFT parameter was modified in place after its Cayley-Neumann rotation was computed; a "
                  "gradient of its gradient needs the values of that forward");
      const at::Tensor dq = series_gradient(math::skew_symmetric(vec, b), g, num_terms);
      return {math::skew_to_vector(dq - dq.transpose(-2, -1)), at::Tensor(), at::Tensor()};
    }
    const at::Tensor q = ctx->get_saved_variables()[0];
    return {skew_vector_gradients(series_gradient(q, g, num_terms).contiguous()), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool cpu_cayley_neumann_fits(const at::Tensor& vec, int64_t block_size, int64_t num_terms) {
  return vec.defined() && vec.device().is_cpu() && vec.scalar_type() == at::kFloat && vec.dim() == 2 &&
         block_size >= 2 && vec.size(1) == block_size * (block_size - 1) / 2 && num_terms >= 2;
}

at::Tensor cpu_cayley_neumann(const at::Tensor& vec, int64_t block_size, int64_t num_terms) {
  if (!cpu_cayley_neumann_fits(vec, block_size, num_terms))
    throw std::invalid_argument(
        "cpu_cayley_neumann: expected (blocks, b(b-1)/2) fp32 skew vectors on the CPU, b >= 2 "
        "and at least two terms (cpu_cayley_neumann_fits)");
  return CpuCayleyNeumann::apply(vec.contiguous(), block_size, num_terms);
}

}  // namespace oft
