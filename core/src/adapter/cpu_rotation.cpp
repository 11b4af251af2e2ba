#include "oft/adapter/cpu_rotation.h"

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/ops/einsum.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/rotation_math.h"
#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft {
namespace {

#ifdef OFT_SDK_X86_ROUNDING
// Rows of a register tile: token rows in the rotation (each row of a block, loaded once, serves all of them), rows
// of dR in its gradient.
constexpr int64_t kTileRows = 4;
// Token rows per parallel task of the rotation.
constexpr int64_t kTokensPerTask = 16;
// fp32 values of x and of dy per block that the gradient of R converts at a time (32 KiB each).
constexpr int64_t kGradientChunkValues = 8192;

bool cpu_has_the_kernels() { return sdk::cpu_has_avx2() && sdk::cpu_has_f16c() && sdk::cpu_has_fma(); }

// count (a multiple of 8) values of T as floats.
template <typename T>
__attribute__((target("avx2,fma,f16c"))) inline void to_floats(const T* values, int64_t count, float* out) {
  for (int64_t i = 0; i < count; i += 8) _mm256_storeu_ps(out + i, sdk::load_in_8_lanes(values + i));
}

// The second register of a row of 16 columns (zero where rows hold 8), and storing a row of 8 or 16.
template <int kVectors>
__attribute__((target("avx2,fma"))) inline __m256 second_of(const float* row) {
  return kVectors == 2 ? _mm256_loadu_ps(row + 8) : _mm256_setzero_ps();
}
template <int kVectors>
__attribute__((target("avx2,fma"))) inline void store_row(float* row, __m256 first, __m256 second) {
  _mm256_storeu_ps(row, first);
  if constexpr (kVectors == 2) _mm256_storeu_ps(row + 8, second);
}

// A tile of kTileRows rows by 8 * kVectors columns of fp32 sums (row-major in `tile`, read and written back):
// tile[r][c] += Σ_p a[r * a_row + p * a_step] * w[p * w_step + c] over p < steps. Named registers, not an array:
// GCC keeps an array of sums on the stack, a load and a store around every multiply-add.
template <int kVectors>
__attribute__((target("avx2,fma"))) inline void accumulate_tile(const float* a, int64_t a_row, int64_t a_step,
                                                                const float* w, int64_t w_step, int64_t steps,
                                                                float* tile) {
  static_assert(kTileRows == 4 && (kVectors == 1 || kVectors == 2));
  constexpr int kColumns = 8 * kVectors;
  __m256 s00 = _mm256_loadu_ps(tile), s01 = second_of<kVectors>(tile);
  __m256 s10 = _mm256_loadu_ps(tile + kColumns), s11 = second_of<kVectors>(tile + kColumns);
  __m256 s20 = _mm256_loadu_ps(tile + 2 * kColumns), s21 = second_of<kVectors>(tile + 2 * kColumns);
  __m256 s30 = _mm256_loadu_ps(tile + 3 * kColumns), s31 = second_of<kVectors>(tile + 3 * kColumns);
  for (int64_t p = 0; p < steps; ++p) {
    const float* weights = w + p * w_step;
    const float* values = a + p * a_step;
    const __m256 w0 = _mm256_loadu_ps(weights), w1 = second_of<kVectors>(weights);
    __m256 v = _mm256_broadcast_ss(values);
    s00 = _mm256_fmadd_ps(v, w0, s00);
    if constexpr (kVectors == 2) s01 = _mm256_fmadd_ps(v, w1, s01);
    v = _mm256_broadcast_ss(values + a_row);
    s10 = _mm256_fmadd_ps(v, w0, s10);
    if constexpr (kVectors == 2) s11 = _mm256_fmadd_ps(v, w1, s11);
    v = _mm256_broadcast_ss(values + 2 * a_row);
    s20 = _mm256_fmadd_ps(v, w0, s20);
    if constexpr (kVectors == 2) s21 = _mm256_fmadd_ps(v, w1, s21);
    v = _mm256_broadcast_ss(values + 3 * a_row);
    s30 = _mm256_fmadd_ps(v, w0, s30);
    if constexpr (kVectors == 2) s31 = _mm256_fmadd_ps(v, w1, s31);
  }
  store_row<kVectors>(tile, s00, s01);
  store_row<kVectors>(tile + kColumns, s10, s11);
  store_row<kVectors>(tile + 2 * kColumns, s20, s21);
  store_row<kVectors>(tile + 3 * kColumns, s30, s31);
}

// accumulate_tile on sixteen lanes (AVX-512F): rows of 16 * kVectors columns.
template <int kVectors>
__attribute__((target("avx512f"))) inline __m512 second_of_16(const float* row) {
  return kVectors == 2 ? _mm512_loadu_ps(row + 16) : _mm512_setzero_ps();
}
template <int kVectors>
__attribute__((target("avx512f"))) inline void store_row_16(float* row, __m512 first, __m512 second) {
  _mm512_storeu_ps(row, first);
  if constexpr (kVectors == 2) _mm512_storeu_ps(row + 16, second);
}
template <int kVectors>
__attribute__((target("avx512f"))) void accumulate_tile_in_16_lanes(const float* a, int64_t a_row, int64_t a_step,
                                                                    const float* w, int64_t w_step, int64_t steps,
                                                                    float* tile) {
  static_assert(kTileRows == 4 && (kVectors == 1 || kVectors == 2));
  constexpr int kColumns = 16 * kVectors;
  __m512 s00 = _mm512_loadu_ps(tile), s01 = second_of_16<kVectors>(tile);
  __m512 s10 = _mm512_loadu_ps(tile + kColumns), s11 = second_of_16<kVectors>(tile + kColumns);
  __m512 s20 = _mm512_loadu_ps(tile + 2 * kColumns), s21 = second_of_16<kVectors>(tile + 2 * kColumns);
  __m512 s30 = _mm512_loadu_ps(tile + 3 * kColumns), s31 = second_of_16<kVectors>(tile + 3 * kColumns);
  for (int64_t p = 0; p < steps; ++p) {
    const float* weights = w + p * w_step;
    const float* values = a + p * a_step;
    const __m512 w0 = _mm512_loadu_ps(weights), w1 = second_of_16<kVectors>(weights);
    __m512 v = _mm512_set1_ps(values[0]);
    s00 = _mm512_fmadd_ps(v, w0, s00);
    if constexpr (kVectors == 2) s01 = _mm512_fmadd_ps(v, w1, s01);
    v = _mm512_set1_ps(values[a_row]);
    s10 = _mm512_fmadd_ps(v, w0, s10);
    if constexpr (kVectors == 2) s11 = _mm512_fmadd_ps(v, w1, s11);
    v = _mm512_set1_ps(values[2 * a_row]);
    s20 = _mm512_fmadd_ps(v, w0, s20);
    if constexpr (kVectors == 2) s21 = _mm512_fmadd_ps(v, w1, s21);
    v = _mm512_set1_ps(values[3 * a_row]);
    s30 = _mm512_fmadd_ps(v, w0, s30);
    if constexpr (kVectors == 2) s31 = _mm512_fmadd_ps(v, w1, s31);
  }
  store_row_16<kVectors>(tile, s00, s01);
  store_row_16<kVectors>(tile + kColumns, s10, s11);
  store_row_16<kVectors>(tile + 2 * kColumns, s20, s21);
  store_row_16<kVectors>(tile + 3 * kColumns, s30, s31);
}

// A tile of kColumns columns: sixteen lanes where kWide (the CPU has AVX-512F), else eight.
template <int kColumns, bool kWide>
__attribute__((target("avx2,fma"))) inline void accumulate(const float* a, int64_t a_row, int64_t a_step,
                                                           const float* w, int64_t w_step, int64_t steps, float* tile) {
  if constexpr (kWide)
    accumulate_tile_in_16_lanes<kColumns / 16>(a, a_row, a_step, w, w_step, steps, tile);
  else
    accumulate_tile<kColumns / 8>(a, a_row, a_step, w, w_step, steps, tile);
}

// Rows [first, last) of y = x . blockdiag(m): x and y (tokens, features) of T, m (features / b or 1 shared, b, b)
// fp32. Each output is its fp32 sum over the block's inputs in order, rounded once to T.
template <typename T, int kColumns, bool kWide>
__attribute__((target("avx2,fma,f16c"))) void rotate_rows_of(const T* x, const float* m, bool shared, int64_t first,
                                                             int64_t last, int64_t features, int64_t b, T* y) {
  constexpr c10::ScalarType kDtype = c10::CppTypeToScalarType<T>::value;
  // A last tile of fewer rows also rotates rows left from the tile before, and stores only its own.
  std::vector<float> inputs(static_cast<size_t>(kTileRows * b), 0.0f);
  alignas(64) float tile[kTileRows * kColumns];
  for (int64_t t = first; t < last; t += kTileRows) {
    const int64_t rows = std::min(kTileRows, last - t);
    for (int64_t k = 0; k * b < features; ++k) {
      const float* block = m + (shared ? 0 : k * b * b);
      for (int64_t r = 0; r < rows; ++r) to_floats(x + (t + r) * features + k * b, b, inputs.data() + r * b);
      for (int64_t j = 0; j < b; j += kColumns) {
        std::fill(std::begin(tile), std::end(tile), 0.0f);
        accumulate<kColumns, kWide>(inputs.data(), b, 1, block + j, b, b, tile);
        for (int64_t r = 0; r < rows; ++r)
          for (int v = 0; v < kColumns / 8; ++v)
            sdk::store_in_8_lanes(y + (t + r) * features + k * b + j + 8 * v,
                                  sdk::rounded_to<kDtype>(_mm256_load_ps(tile + r * kColumns + 8 * v)));
      }
    }
  }
}

// Blocks [first, last) of dR[k] = Σ_t x[t, kb:(k+1)b]ᵀ dy[t, kb:(k+1)b] into gradients (features / b, b, b) fp32.
template <typename T, int kColumns, bool kWide>
__attribute__((target("avx2,fma,f16c"))) void block_gradients_of(const T* x, const T* dy, int64_t tokens,
                                                                 int64_t features, int64_t b, int64_t first,
                                                                 int64_t last, float* gradients) {
  const int64_t chunk = std::max<int64_t>(1, kGradientChunkValues / b);
  std::vector<float> inputs(static_cast<size_t>(chunk * b)), output_grads(static_cast<size_t>(chunk * b));
  alignas(64) float tile[kTileRows * kColumns];
  for (int64_t k = first; k < last; ++k) {
    float* g = gradients + k * b * b;
    for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
      const int64_t rows = std::min(chunk, tokens - t0);
      for (int64_t s = 0; s < rows; ++s) {
        to_floats(x + (t0 + s) * features + k * b, b, inputs.data() + s * b);
        to_floats(dy + (t0 + s) * features + k * b, b, output_grads.data() + s * b);
      }
      // Rows i..i+3 of dR (b is a multiple of 8), columns j..: Σ_s x[s][i + r] dy[s][j + c].
      for (int64_t i = 0; i < b; i += kTileRows)
        for (int64_t j = 0; j < b; j += kColumns) {
          for (int64_t r = 0; r < kTileRows; ++r) std::copy_n(g + (i + r) * b + j, kColumns, tile + r * kColumns);
          accumulate<kColumns, kWide>(inputs.data() + i, 1, b, output_grads.data() + j, b, rows, tile);
          for (int64_t r = 0; r < kTileRows; ++r) std::copy_n(tile + r * kColumns, kColumns, g + (i + r) * b + j);
        }
    }
  }
}

// Calls f(T{}, columns, wide) for x's element type (fp32, fp16 or bf16) and the widest tile b allows: 32 columns
// in two sixteen-lane registers where the CPU has AVX-512F, 16 in one (or two of eight lanes), else 8.
template <typename F>
void with_element_type(c10::ScalarType dtype, int64_t b, sdk::ProductLanes lanes, F&& f) {
  const bool wide = sdk::takes_16_lanes(lanes);
  const auto with_tile = [&](auto element) {
    if (wide && b % 32 == 0) return f(element, std::integral_constant<int, 32>{}, std::true_type{});
    if (wide && b % 16 == 0) return f(element, std::integral_constant<int, 16>{}, std::true_type{});
    if (b % 16 == 0) return f(element, std::integral_constant<int, 16>{}, std::false_type{});
    f(element, std::integral_constant<int, 8>{}, std::false_type{});
  };
  switch (dtype) {
    case at::kFloat: return with_tile(float{});
    case at::kHalf: return with_tile(c10::Half{});
    case at::kBFloat16: return with_tile(c10::BFloat16{});
    default: throw std::invalid_argument("cpu_rotate_rows: expected fp32, fp16 or bf16 rows");
  }
}

// y = x . blockdiag(m), x and y (tokens, features) contiguous.
void rotate_into(const at::Tensor& x, const at::Tensor& m, sdk::ProductLanes lanes, const at::Tensor& y) {
  const int64_t tokens = x.size(0), features = x.size(1), b = m.size(-1);
  const bool shared = m.size(0) == 1;
  with_element_type(x.scalar_type(), b, lanes, [&](auto element, auto columns, auto wide) {
    using T = decltype(element);
    const T* in = x.const_data_ptr<T>();
    T* out = y.mutable_data_ptr<T>();
    const float* blocks = m.const_data_ptr<float>();
    // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
    at::parallel_for(0, tokens, kTokensPerTask, [&](int64_t first, int64_t last) {
      rotate_rows_of<T, decltype(columns)::value, decltype(wide)::value>(in, blocks, shared, first, last, features, b,
                                                                         out);
    });
  });
}

// dR for each of the features / b blocks, fp32 (features / b, b, b).
at::Tensor block_gradients(const at::Tensor& x, const at::Tensor& dy, int64_t b, sdk::ProductLanes lanes) {
  const int64_t tokens = x.size(0), features = x.size(1), count = features / b;
  at::Tensor gradients = at::zeros({count, b, b}, x.options().dtype(at::kFloat));
  with_element_type(x.scalar_type(), b, lanes, [&](auto element, auto columns, auto wide) {
    using T = decltype(element);
    const T* in = x.const_data_ptr<T>();
    const T* grads = dy.const_data_ptr<T>();
    float* out = gradients.mutable_data_ptr<float>();
    at::parallel_for(0, count, 1, [&](int64_t first, int64_t last) {
      block_gradients_of<T, decltype(columns)::value, decltype(wide)::value>(in, grads, tokens, features, b, first,
                                                                             last, out);
    });
  });
  return gradients;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The backward by LibTorch's operators, for a backward that is itself differentiated (create_graph): the kernels'
// results carry no graph.
variable_list differentiable_gradients(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& blocks,
                                       const at::Tensor& dy) {
  const int64_t b = blocks.size(-1), count = x.size(1) / b;
  at::Tensor dx, dblocks;
  if (ctx->needs_input_grad(0)) dx = math::rotate_rows(dy.to(at::kFloat), blocks.transpose(-2, -1)).to(x.scalar_type());
  if (ctx->needs_input_grad(1)) {
    dblocks =
        at::einsum("tki,tkj->kij", {x.to(at::kFloat).view({-1, count, b}), dy.to(at::kFloat).view({-1, count, b})});
    if (blocks.size(0) == 1) dblocks = dblocks.sum(0, /*keepdim=*/true);
  }
  return {dx, dblocks, at::Tensor()};
}

// x (tokens, features) contiguous, blocks (features / b or 1, b, b) fp32 contiguous -> x . blockdiag(blocks) in
// x's dtype.
class CpuRotateRows : public torch::autograd::Function<CpuRotateRows> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& blocks,
                            sdk::ProductLanes lanes) {
    at::Tensor y = at::empty_like(x);
    rotate_into(x, blocks, lanes, y);
    ctx->save_for_backward({x, blocks});
    ctx->saved_data["eight_lanes"] = lanes == sdk::ProductLanes::kEight;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& blocks = saved[1];
    const auto lanes = ctx->saved_data["eight_lanes"].toBool() ? sdk::ProductLanes::kEight : sdk::ProductLanes::kWidest;
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    const at::Tensor dy = grads[0].to(x.scalar_type()).contiguous();
    if (torch::GradMode::is_enabled()) return differentiable_gradients(ctx, x, blocks, dy);
    at::Tensor dx, dblocks;
    if (ctx->needs_input_grad(0)) {
      dx = at::empty_like(dy);
      rotate_into(dy, blocks.transpose(-2, -1).contiguous(), lanes, dx);  // dy . blockdiag(R)ᵀ
    }
    if (ctx->needs_input_grad(1)) {
      dblocks = block_gradients(x, dy, blocks.size(-1), lanes);
      if (blocks.size(0) == 1) dblocks = dblocks.sum(0, /*keepdim=*/true);  // one block shared by all
    }
    return {dx, dblocks, at::Tensor()};
  }
};
#endif

}  // namespace

bool cpu_rotation_fits(const at::Tensor& x, const at::Tensor& blocks) {
#ifdef OFT_SDK_X86_ROUNDING
  if (!x.defined() || !blocks.defined() || !x.device().is_cpu() || !blocks.device().is_cpu()) return false;
  const auto dtype = x.scalar_type();
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16) return false;
  if (blocks.scalar_type() != at::kFloat || blocks.dim() != 3 || x.dim() < 1) return false;
  const int64_t b = blocks.size(-1), features = x.size(-1);
  return b > 0 && b % 8 == 0 && blocks.size(1) == b && features > 0 && features % b == 0 &&
         (blocks.size(0) == 1 || blocks.size(0) * b == features) && cpu_has_the_kernels();
#else
  (void)x;
  (void)blocks;
  return false;
#endif
}

at::Tensor cpu_rotate_rows(const at::Tensor& x, const at::Tensor& blocks, sdk::ProductLanes lanes) {
  if (!cpu_rotation_fits(x, blocks))
    throw std::invalid_argument(
        "cpu_rotate_rows: these rows, blocks or this CPU do not fit the kernel "
        "(cpu_rotation_fits)");
#ifdef OFT_SDK_X86_ROUNDING
  const auto sizes = x.sizes().vec();
  const at::Tensor rows = x.reshape({-1, x.size(-1)}).contiguous();
  return CpuRotateRows::apply(rows, blocks.contiguous(), lanes).view(sizes);
#else
  return {};
#endif
}

}  // namespace oft
