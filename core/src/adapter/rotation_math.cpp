#include "oft/adapter/rotation_math.h"

#include <string>

#include <ATen/ATen.h>

#include "oft/adapter/neumann_series.h"
#include "oft/errors.h"

namespace oft::math {
namespace {

at::Tensor identity_blocks(int64_t count, int64_t b, const at::TensorOptions& options) {
  return at::eye(b, options).expand({count, b, b});
}

}  // namespace

at::Tensor skew_symmetric(const at::Tensor& vec, int64_t block_size) {
  TORCH_CHECK(vec.dim() == 2, "skew_symmetric expects (blocks, b(b-1)/2), got ", vec.sizes());
  TORCH_CHECK(vec.size(1) == block_size * (block_size - 1) / 2, "skew vector length ", vec.size(1),
              " does not match block size ", block_size);
  auto idx = at::triu_indices(block_size, block_size, 1, vec.options().dtype(at::kLong));
  auto upper = at::zeros({vec.size(0), block_size, block_size}, vec.options());
  upper.index_put_({at::indexing::Slice(), idx[0], idx[1]}, vec);
  return upper - upper.transpose(-2, -1);
}

at::Tensor skew_to_vector(const at::Tensor& skew) {
  const int64_t b = skew.size(-1);
  auto idx = at::triu_indices(b, b, 1, skew.options().dtype(at::kLong));
  return skew.index({at::indexing::Slice(), idx[0], idx[1]});
}

at::Tensor cayley_exact(const at::Tensor& skew) {
  // PEFT builds the identity in the default dtype, so half precision is promoted to fp32.
  const auto work_dtype = at::promote_types(skew.scalar_type(), at::kFloat);
  auto q = skew.to(work_dtype);
  auto eye = identity_blocks(q.size(0), q.size(-1), q.options());
  // X (I + Q) = (I - Q)  =>  X = (I - Q)(I + Q)^-1
  auto r = at::linalg_solve(eye + q, eye - q, /*left=*/false);
  return r.to(skew.scalar_type());
}

at::Tensor cayley_neumann(const at::Tensor& skew, int64_t num_terms) {
  if (num_terms < 2)
    throw UsageError("num_cayley_neumann_terms must be >= 2, got " + std::to_string(num_terms) +
                     " (PEFT would silently use the identity)");
  const int terms = static_cast<int>(num_terms);
  auto r = identity_blocks(skew.size(0), skew.size(-1), skew.options()) + neumann::coefficient(1, terms) * skew;
  auto power = skew;
  for (int k = 2; k <= neumann::highest_power(terms); ++k) {
    power = at::bmm(power, skew);
    r = r + neumann::coefficient(k, terms) * power;
  }
  return r;
}

at::Tensor coft_project(const at::Tensor& vec, int64_t block_size, double eps) {
  auto q = skew_symmetric(vec, block_size);
  const double radius = eps / std::sqrt(static_cast<double>(vec.size(0)));
  auto norm = at::linalg_matrix_norm(q, "fro", {-2, -1}, /*keepdim=*/true);
  auto projected = at::where(norm <= radius, q, radius * (q / norm));
  return skew_to_vector(projected);
}

at::Tensor multiplicative_dropout(const at::Tensor& blocks, double p) {
  const int64_t count = blocks.size(0);
  if (p <= 0.0 || count == 1) return blocks;
  const auto num_to_replace = static_cast<int64_t>(p * static_cast<double>(count));
  // PEFT: mask = cat(ones(k), zeros(D-k))[randperm(D)], so block i is dropped iff perm[i] < k.
  // Drawn on the CPU generator on every device, as PEFT's torch.randperm(D) is.
  auto perm = at::randperm(count, at::TensorOptions().dtype(at::kLong)).to(blocks.device());
  auto mask = (perm < num_to_replace).to(blocks.scalar_type()).view({count, 1, 1});
  auto eye = identity_blocks(count, blocks.size(-1), blocks.options());
  return (1 - mask) * blocks + mask * eye;
}

at::Tensor rotate_rows(const at::Tensor& x, const at::Tensor& blocks) {
  const int64_t r = blocks.size(0), b = blocks.size(-1);
  const auto sizes = x.sizes().vec();
  TORCH_CHECK(x.size(-1) % b == 0, "feature size ", x.size(-1), " is not a multiple of block size ", b);
  if (r == 1) {
    // One (shared) block: a single GEMM over all rows.
    return at::matmul(x.reshape({-1, b}), blocks[0]).view(sizes);
  }
  TORCH_CHECK(x.size(-1) == r * b, "feature size ", x.size(-1), " != ", r, " blocks x ", b);
  // (T, r, b) -> (r, T, b) . (r, b, b) -> (T, r, b): one batched GEMM per block.
  auto rows = x.reshape({-1, r, b}).transpose(0, 1);
  return at::bmm(rows, blocks).transpose(0, 1).reshape(sizes);
}

at::Tensor rotate_rows_blocks_gradient(const at::Tensor& x, const at::Tensor& dy, int64_t r, int64_t b) {
  TORCH_CHECK(x.sizes() == dy.sizes(), "rotation gradient: x ", x.sizes(), " and its output gradient ", dy.sizes(),
              " differ in shape");
  TORCH_CHECK(r >= 1 && b >= 1 && (r == 1 ? x.size(-1) % b == 0 : x.size(-1) == r * b),
              "rotation gradient: ", x.size(-1), " features do not split into ", r, " blocks of ", b);
  if (r == 1) {
    const at::Tensor rows = x.reshape({-1, b}).to(at::kFloat), grads = dy.reshape({-1, b}).to(at::kFloat);
    return at::mm(rows.t(), grads).unsqueeze(0);
  }
  // (T, r, b) -> (r, b, T) . (r, T, b) -> (r, b, b).
  const at::Tensor rows = x.reshape({-1, r, b}).permute({1, 2, 0}).to(at::kFloat);
  const at::Tensor grads = dy.reshape({-1, r, b}).transpose(0, 1).to(at::kFloat);
  return at::bmm(rows, grads);
}

at::Tensor block_diagonal(const at::Tensor& blocks) {
  std::vector<at::Tensor> list(blocks.unbind(0));
  return at::block_diag(list);
}

}  // namespace oft::math
