#include "linear4bit.h"

#include <stdexcept>
#include <string>

#include <ATen/ops/linear.h>

#include "codes.h"

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
  const Packed4bit q = quantize_4bit(weight, state.quant_type, state.blocksize);
  if (!state.nested)
    return std::make_shared<Linear4bit>(weight.size(0), weight.size(1), state, q.packed, q.absmax, at::Tensor(),
                                        at::Tensor(), bias);
  const NestedAbsmax n = quantize_absmax(q.absmax);
  state.nested_offset = n.offset;
  return std::make_shared<Linear4bit>(weight.size(0), weight.size(1), state, q.packed, n.codes, n.nested_absmax,
                                      n.quant_map, bias);
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
  const at::Tensor w =
      dequantize_4bit(weight_, absmax_float(), state_.quant_type, state_.blocksize, out_features_, in_features_, cd);
  return at::linear(x.to(cd), w, bias_.defined() ? bias_.to(cd) : bias_).to(x.scalar_type());
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
  // Through the source dtype, as PEFT's requantization (Params4bit of the dequantized dtype) does.
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
