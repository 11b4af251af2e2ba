#include "linear4bit.h"

#include <stdexcept>
#include <string>
#include <vector>

#include <c10/core/GradMode.h>

#include "code_product_4bit.h"
#include "codes.h"
#include "cuda_ops.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::bnb {
namespace {

std::string describe(const at::Tensor& t) {
  if (!t.defined()) return "nothing";
  std::string s = std::string(c10::toString(t.scalar_type())) + " (";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

void expect(const at::Tensor& t, c10::ScalarType dtype, int64_t size, const std::string& name) {
  if (!t.defined() || t.scalar_type() != dtype || t.numel() != size)
    throw std::invalid_argument(name + ": expected " + c10::toString(dtype) + " with " + std::to_string(size) +
                                " elements, got " + describe(t));
}

}  // namespace

Linear4bit::Linear4bit(int64_t out_features, int64_t in_features, const FourBitState& state, const at::Tensor& packed,
                       const at::Tensor& absmax, const at::Tensor& nested_absmax, const at::Tensor& nested_quant_map,
                       const at::Tensor& bias)
    : sdk::LinearModule("Linear4bit"), out_features_(out_features), in_features_(in_features), state_(state) {
  if (out_features <= 0 || in_features <= 0)
    throw std::invalid_argument("Linear4bit: out_features and in_features must be positive");
  if (!is_valid_blocksize(state.blocksize))
    throw std::invalid_argument("blocksize: " + std::to_string(state.blocksize) +
                                ", expected one of 32, 64, 128, 256, 512, 1024, 2048, 4096");
  const int64_t n = out_features * in_features;
  const int64_t blocks = (n + state.blocksize - 1) / state.blocksize;
  expect(packed, at::kByte, (n + 1) / 2, "weight");
  if (state.nested) {
    expect(absmax, at::kByte, blocks, "weight.absmax");
    expect(nested_absmax, at::kFloat, (blocks + kNestedBlocksize - 1) / kNestedBlocksize, "weight.nested_absmax");
    expect(nested_quant_map, at::kFloat, 256, "weight.nested_quant_map");
  } else {
    expect(absmax, at::kFloat, blocks, "weight.absmax");
  }
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != out_features || !at::isFloatingType(bias.scalar_type())))
    throw std::invalid_argument("bias: expected float (" + std::to_string(out_features) + "), got " + describe(bias));
  weight_ = register_parameter("weight", packed.reshape({-1, 1}).contiguous(), /*requires_grad=*/false);
  absmax_ = register_buffer("absmax", absmax.contiguous());
  quant_map_ = register_buffer("quant_map", quant_map(state.quant_type));
  if (state.nested) {
    nested_absmax_ = register_buffer("nested_absmax", nested_absmax.contiguous());
    nested_quant_map_ = register_buffer("nested_quant_map", nested_quant_map.contiguous());
  }
  if (bias.defined()) bias_ = register_parameter("bias", bias.detach().clone(), /*requires_grad=*/false);
}

std::shared_ptr<Linear4bit> Linear4bit::from_float(const at::Tensor& weight, const at::Tensor& bias,
                                                   FourBitState state) {
  const auto t = weight.defined() ? weight.scalar_type() : at::kFloat;
  if (!weight.defined() || weight.dim() != 2 || (t != at::kFloat && t != at::kHalf && t != at::kBFloat16))
    throw std::invalid_argument("weight: expected a float32/float16/bfloat16 (out_features, in_features) matrix, got " +
                                describe(weight));
  state.dtype = t;
  const Packed4bit q = quantize_4bit(weight, state.quant_type, state.blocksize);  // on the CPU
  std::shared_ptr<Linear4bit> layer;
  if (!state.nested) {
    layer = std::make_shared<Linear4bit>(weight.size(0), weight.size(1), state, q.packed, q.absmax, at::Tensor(),
                                         at::Tensor(), bias.defined() ? bias.to(at::kCPU) : bias);
  } else {
    const NestedAbsmax n = quantize_absmax(q.absmax);
    state.nested_offset = n.offset;
    layer = std::make_shared<Linear4bit>(weight.size(0), weight.size(1), state, q.packed, n.codes, n.nested_absmax,
                                         n.quant_map, bias.defined() ? bias.to(at::kCPU) : bias);
  }
  if (!weight.device().is_cpu()) layer->to(weight.device());  // packed, as on the CPU
  return layer;
}

at::Tensor Linear4bit::absmax_float() const {
  if (!state_.nested) return absmax_;
  return dequantize_absmax(absmax_, nested_absmax_, nested_quant_map_, state_.nested_offset);
}

at::Tensor Linear4bit::forward(const at::Tensor& x) {
  if (x.size(-1) != in_features_)
    throw std::invalid_argument("Linear4bit: input has " + std::to_string(x.size(-1)) + " features, expected " +
                                std::to_string(in_features_));
  const auto cd = state_.compute_dtype;
  const int64_t tokens = x.numel() / in_features_;
  // Few tokens on CUDA: the fused kernel reads the packed codes once and never writes W. It has no backward,
  // so inputs that need a gradient (OFT training) take the dequantize + GEMM path below. W and the bias in the
  // compute dtype, as that path has them: crossing kMaxGemvTokens changes only the summation order.
  if (weight_.is_cuda() && tokens >= 1 && tokens <= kMaxGemvTokens &&
      !(c10::GradMode::is_enabled() && x.requires_grad())) {
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = out_features_;
    // Nested absmax codes go to the kernel as they are: it decodes each block's where it reads it.
    const at::Tensor y = cuda_ops().gemv_4bit(x.reshape({tokens, in_features_}).to(cd), weight_, absmax_,
                                              state_.nested ? nested_absmax_ : at::Tensor(), nested_quant_map_,
                                              state_.nested_offset, state_.quant_type == QuantType::NF4,
                                              state_.blocksize, out_features_, bias_.defined() ? bias_.to(cd) : bias_);
    return y.view(shape).to(x.scalar_type());
  }
  // Few tokens on the CPU: straight from the codes where the code product applies (up to 8 tokens on x86 with
  // AVX2, 20 with AVX-512F), else W a tile of rows at a time, each multiplied while in cache (no dense W written).
  if (weight_.device().is_cpu() && sdk::tiled_linear_applies(x, bias_)) {
    const at::Tensor absmax = absmax_float().contiguous();
    if (code_product_4bit_applies(tokens, in_features_, state_.blocksize, cd)) {
      const at::Tensor y = code_product_4bit(x.reshape({tokens, in_features_}).to(cd).to(at::kFloat).contiguous(),
                                             weight_, absmax, state_.quant_type, state_.blocksize, out_features_, cd);
      return sdk::few_token_result(y.to(cd), x, bias_);
    }
    return sdk::tiled_dequantized_linear(x, bias_, out_features_, cd, sdk::TileLayout::kOutByIn, /*row_alignment=*/1,
                                         [&](int64_t first, int64_t, const at::Tensor& tile) {
                                           dequantize_4bit_rows(weight_, absmax, state_.quant_type, state_.blocksize,
                                                                in_features_, first, tile);
                                         });
  }
  return sdk::linear_recomputing_weight(x.to(cd), bias_.defined() ? bias_.to(cd) : bias_, *this,
                                        [this, cd] {
                                          return dequantize_4bit(weight_, absmax_float(), state_.quant_type,
                                                                 state_.blocksize, out_features_, in_features_, cd);
                                        })
      .to(x.scalar_type());
}

sdk::MergePolicy Linear4bit::merge_policy() const {
  return {sdk::MergeMode::Requantize,
          "bitsandbytes 4-bit: the merged weight is quantized to " + name_of(state_.quant_type) +
              " again (same blocksize and nesting), so merged outputs differ from the unmerged adapter by that "
              "rounding"};
}

at::Tensor Linear4bit::dense_weight() {
  return dequantize_4bit(weight_, absmax_float(), state_.quant_type, state_.blocksize, out_features_, in_features_,
                         state_.dtype);
}

void Linear4bit::set_dense_weight(const at::Tensor& weight) {
  if (!weight.defined() || weight.dim() != 2 || weight.size(0) != out_features_ || weight.size(1) != in_features_)
    throw std::invalid_argument("Linear4bit: dense weight must be (" + std::to_string(out_features_) + ", " +
                                std::to_string(in_features_) + ")");
  // Through the source dtype, as PEFT's requantization (Params4bit of the dequantized dtype) does. Quantized on
  // the CPU (the same bytes on every device), then copied into the layer's tensors wherever they are.
  store(quantize_4bit(weight.to(state_.dtype), state_.quant_type, state_.blocksize));
}

void Linear4bit::store(const Packed4bit& q) {
  weight_.copy_(q.packed);
  if (!state_.nested) {
    absmax_.copy_(q.absmax);
    return;
  }
  const NestedAbsmax n = quantize_absmax(q.absmax);
  absmax_.copy_(n.codes);
  nested_absmax_.copy_(n.nested_absmax);
  nested_quant_map_.copy_(n.quant_map);
  state_.nested_offset = n.offset;
}

}  // namespace oft::bnb
