#include "int8_math.h"

#include <algorithm>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/any.h>
#include <ATen/ops/argwhere.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/reciprocal.h>
#include <ATen/ops/round.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include "cuda_ops.h"
#include "int8_rows_product.h"
#include "int8_training_weight.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/tiled_dequantized_linear.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::bnb {
namespace {

// bitsandbytes' dequantization constants (float32 after the Python float is applied to a float32 tensor).
constexpr double kInv127 = 7.874015718698502e-3;
constexpr double kInv127Squared = 6.200124e-05;  // the CPU/default op's value; bnb's CUDA kernel uses 6.200012e-05

struct RowQuantized {
  at::Tensor codes;         // int8 (rows, cols)
  at::Tensor stats;         // float32 (rows)
  at::Tensor outlier_cols;  // int64, undefined when threshold == 0
};

// int8_vectorwise_quant on an fp16 matrix.
RowQuantized quantize_rows(at::Tensor a, double threshold) {
  RowQuantized q;
  at::Tensor outliers;
  if (threshold > 0.0) {
    outliers = at::abs(a).ge(threshold);
    q.outlier_cols = at::argwhere(at::any(outliers, 0)).view({-1});
    if (q.outlier_cols.numel() > 0) a = at::where(outliers, at::zeros({}, a.options()), a);
  }
  q.stats = std::get<0>(at::abs(a).max(1)).to(at::kFloat);
  // Python's `127.0 / stats` is stats.reciprocal() * 127.0.
  q.codes = at::round(at::mul(a, at::mul(at::reciprocal(q.stats), 127.0).unsqueeze(-1))).to(at::kChar);
  if (a.size(0) > 1 && q.outlier_cols.defined() && q.outlier_cols.numel() > 0)
    q.codes.index_fill_(1, q.outlier_cols, 0);
  return q;
}

// Exact int32 A · Bᵀ for A and B holding int8 values (A in float32, B in int8 or float32): fp32 GEMMs over chunks
// of 1024 columns are exact (|sum| <= 1024 · 127² < 2^24), and the chunks add up in int32.
at::Tensor exact_int8_product(const at::Tensor& a, const at::Tensor& b) {
  constexpr int64_t kChunk = 1024;
  const int64_t k = a.size(1);
  at::Tensor acc;
  for (int64_t start = 0; start < k; start += kChunk) {
    const int64_t stop = std::min(k, start + kChunk);
    const at::Tensor part =
        at::matmul(a.slice(1, start, stop), b.slice(1, start, stop).to(at::kFloat).t()).to(at::kInt);
    acc = acc.defined() ? acc.add_(part) : part;
  }
  return acc;
}

// exact_int8_product for int8 A and B. For a few rows of A (decoding) on x86 with AVX2, int8_rows_product's int32
// sums; else, up to kTiledLinearMaxTokens rows, B is converted a tile of rows at a time
// (sdk::tiled_dequantized_linear's sizes) and each tile multiplied while in cache, in parallel, instead of writing and
// reading back all of B in fp32. The result is the same, exactly.
at::Tensor int8_matmul(const at::Tensor& a, const at::Tensor& b) {
  if (int8_rows_product_applies(a.size(0), a.size(1)) && b.is_contiguous()) return int8_rows_product(a, b);
  const at::Tensor a_float = a.to(at::kFloat);
  const int64_t rows = a.size(0), n = b.size(0);
  if (rows > sdk::kTiledLinearMaxTokens) return exact_int8_product(a_float, b);
  const int64_t tile = sdk::tiled_linear_rows(b.size(1), at::kFloat);
  const int64_t tiles = (n + tile - 1) / tile;
  at::Tensor out = at::empty({rows, n}, a.options().dtype(at::kInt));
  const at::ThreadLocalState caller_state;  // InferenceMode and the like go with the worker threads
  at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
    const at::ThreadLocalStateGuard state_guard(caller_state);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t first = t * tile, count = std::min(tile, n - first);
      // The tile's rows converted in one contiguous pass (the chunks then take float views of it).
      out.narrow(1, first, count).copy_(exact_int8_product(a_float, b.narrow(0, first, count).to(at::kFloat)));
    }
  });
  return out;
}

}  // namespace

Int8Weight quantize_int8(const at::Tensor& weight) {
  // On the CPU wherever the weight is, so that every device stores the same bytes.
  const RowQuantized q = quantize_rows(weight.detach().to(at::kCPU).contiguous().to(at::kHalf), 0.0);
  return {q.codes, q.stats};
}

at::Tensor dequantize_int8(const at::Tensor& cb, const at::Tensor& scb) {
  check_device_supported(cb, "bitsandbytes 8-bit dequantization");
  if (cb.is_cuda()) return cuda_ops().dequantize_int8(cb, scb, at::kFloat);
  // The same two roundings as math::dequantize_int8_value (ATen applies the Python scalar in float32).
  return at::mul(at::mul(cb, scb.view({-1, 1})), kInv127);
}

at::Tensor int8_forward(const at::Tensor& x, const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias,
                        double threshold) {
  const auto dtype = x.scalar_type();
  const at::Tensor a = x.reshape({-1, x.size(-1)});
  const RowQuantized q = quantize_rows(a.to(at::kHalf), threshold);
  at::Tensor out =
      at::mul(at::mul(int8_matmul(q.codes, cb), at::mul(q.stats.view({-1, 1}), scb.view({1, -1}))), kInv127Squared);
  if (bias.defined()) out.add_(bias.to(dtype));
  out = out.to(dtype);
  if (q.outlier_cols.defined() && q.outlier_cols.numel() > 0) {
    const at::Tensor sub_a = at::index_select(a, 1, q.outlier_cols);
    const at::Tensor sub_b = dequantize_int8(at::index_select(cb, 1, q.outlier_cols), scb).to(dtype).t();
    out = out.addmm(sub_a, sub_b);
  }
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = cb.size(0);
  return out.view(shape);
}

at::Tensor dequantized_forward(const at::Tensor& x, const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias,
                               const torch::nn::Module& owner) {
  return sdk::linear_recomputing_weight(x, bias.defined() ? bias.to(x.scalar_type()) : bias, owner,
                                        [cb, scb, dtype = x.scalar_type()] {
                                          at::Tensor w = sdk::weight_buffer(cb.sizes(), dtype);
                                          dequantize_int8_for_training_into(cb, scb, w);
                                          return w;
                                        });
}

}  // namespace oft::bnb
